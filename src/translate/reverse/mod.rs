//! The reverse direction: OpenAI Chat Completions clients calling a model served by an
//! Anthropic upstream (Claude). Requests become Messages; answers and streams come back as chat
//! completions and chunks.

pub mod request;
pub mod response;
pub mod stream;

pub use request::{chat_to_messages, ChatMeta};
