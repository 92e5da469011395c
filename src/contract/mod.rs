//! What each public API looks like from the outside: the route table (which endpoint, which
//! contract, which scope), and how errors and shared answers are shaped in each contract.

mod error;
pub mod models;
pub mod responses;
pub mod routes;

pub use error::{ErrorKind, GatewayError};
pub use models::models_list;

/// The two public wire contracts (the Responses API is OpenAI's: its errors are OpenAI's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    OpenAi,
    Anthropic,
}
