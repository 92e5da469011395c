//! What each public API looks like from the outside: which endpoint a request is for, which
//! contract (OpenAI or Anthropic) it speaks, and how errors are shaped in that contract.

mod error;
pub mod models;

pub use error::{ErrorKind, GatewayError};
pub use models::models_list;

use http::{HeaderMap, Method};

/// The two public wire contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    OpenAi,
    Anthropic,
}

/// Endpoints the gateway serves. `Other` answers 404 in the caller's contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    ChatCompletions,
    Embeddings,
    Models,
    Model,
    Messages,
    CountTokens,
    Other,
}

impl Route {
    pub fn classify(method: &Method, path: &str) -> Route {
        let path = path.strip_suffix('/').unwrap_or(path);
        match (method, path) {
            (&Method::POST, "/v1/chat/completions") => Route::ChatCompletions,
            (&Method::POST, "/v1/embeddings") => Route::Embeddings,
            (&Method::GET, "/v1/models") => Route::Models,
            (&Method::POST, "/v1/messages") => Route::Messages,
            (&Method::POST, "/v1/messages/count_tokens") => Route::CountTokens,
            (&Method::GET, p) if p.len() > "/v1/models/".len() && p.starts_with("/v1/models/") => {
                Route::Model
            }
            _ => Route::Other,
        }
    }

    /// Bounded metric label.
    pub fn as_label(self) -> &'static str {
        match self {
            Route::ChatCompletions => "chat_completions",
            Route::Embeddings => "embeddings",
            Route::Models | Route::Model => "models",
            Route::Messages => "messages",
            Route::CountTokens => "count_tokens",
            Route::Other => "other",
        }
    }

    /// Routes whose body names a model and goes upstream.
    pub fn is_proxied(self) -> bool {
        matches!(
            self,
            Route::ChatCompletions | Route::Embeddings | Route::Messages | Route::CountTokens
        )
    }
}

/// Anthropic routes speak Anthropic; shared routes (`/v1/models`, unknown paths) follow the
/// caller: Anthropic SDKs always send `anthropic-version`.
pub fn contract_for(route: Route, headers: &HeaderMap) -> Contract {
    match route {
        Route::Messages | Route::CountTokens => Contract::Anthropic,
        Route::ChatCompletions | Route::Embeddings => Contract::OpenAi,
        Route::Models | Route::Model | Route::Other => {
            if headers.contains_key("anthropic-version") {
                Contract::Anthropic
            } else {
                Contract::OpenAi
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn classifies_endpoints() {
        assert_eq!(
            Route::classify(&Method::POST, "/v1/chat/completions"),
            Route::ChatCompletions
        );
        assert_eq!(
            Route::classify(&Method::POST, "/v1/chat/completions/"),
            Route::ChatCompletions
        );
        assert_eq!(
            Route::classify(&Method::GET, "/v1/chat/completions"),
            Route::Other
        );
        assert_eq!(
            Route::classify(&Method::POST, "/v1/embeddings"),
            Route::Embeddings
        );
        assert_eq!(Route::classify(&Method::GET, "/v1/models"), Route::Models);
        assert_eq!(
            Route::classify(&Method::GET, "/v1/models/qwen3-32b"),
            Route::Model
        );
        assert_eq!(Route::classify(&Method::GET, "/v1/models/"), Route::Models);
        assert_eq!(
            Route::classify(&Method::POST, "/v1/messages"),
            Route::Messages
        );
        assert_eq!(
            Route::classify(&Method::POST, "/v1/messages/count_tokens"),
            Route::CountTokens
        );
        assert_eq!(Route::classify(&Method::POST, "/v2/anything"), Route::Other);
    }

    #[test]
    fn shared_routes_follow_the_caller() {
        let mut h = HeaderMap::new();
        assert_eq!(contract_for(Route::Models, &h), Contract::OpenAi);
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        assert_eq!(contract_for(Route::Models, &h), Contract::Anthropic);
        assert_eq!(contract_for(Route::ChatCompletions, &h), Contract::OpenAi);
        assert_eq!(
            contract_for(Route::Messages, &HeaderMap::new()),
            Contract::Anthropic
        );
    }
}
