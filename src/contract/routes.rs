//! The route table: the one place an endpoint is declared. Method, path, the client contract it
//! speaks, the key scope it needs, its metric label, and what serves it (a bridge chosen by the
//! planner, or the gateway itself). Everything else — admission, scopes, token reservations,
//! labels — reads the matched entry; there are no wildcard arms that would let a new route
//! compile while silently doing the wrong thing.

use super::Contract;
use crate::catalogue::ModelKind;
use crate::keys::Scope;
use http::{HeaderMap, Method};

/// A client contract whose requests name a model and go upstream through a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientApi {
    ChatCompletions,
    Embeddings,
    Messages,
    CountTokens,
    Responses,
}

impl ClientApi {
    /// The catalogue kind a model must have to serve this API.
    pub fn model_kind(self) -> ModelKind {
        match self {
            ClientApi::Embeddings => ModelKind::Embeddings,
            ClientApi::ChatCompletions
            | ClientApi::Messages
            | ClientApi::CountTokens
            | ClientApi::Responses => ModelKind::Chat,
        }
    }

    /// How many tokens admission reserves before the answer's usage is known.
    pub fn reservation(self) -> Reserve {
        match self {
            ClientApi::ChatCompletions | ClientApi::Messages | ClientApi::Responses => {
                Reserve::InputAndOutput
            }
            ClientApi::Embeddings => Reserve::Input,
            ClientApi::CountTokens => Reserve::Nothing,
        }
    }
}

/// Token reservation rule of an endpoint (corrected from the real usage when the answer ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserve {
    /// `input bytes / 4` plus the output budget.
    InputAndOutput,
    /// `input bytes / 4`.
    Input,
    Nothing,
}

/// Endpoints the gateway answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    ListModels,
    GetModel,
    GetResponse,
    DeleteResponse,
    ResponseInputItems,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Proxy(ClientApi),
    Local(Local),
}

/// Which contract errors and shared answers are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractRule {
    Fixed(Contract),
    /// Shared routes (`/v1/models`) follow the caller: Anthropic SDKs always send
    /// `anthropic-version`.
    FollowCaller,
}

/// A path: fixed, or with one segment that is a parameter (a model or response id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSpec {
    Exact(&'static str),
    /// `prefix{param}suffix`, the parameter one non-empty segment.
    Param {
        prefix: &'static str,
        suffix: &'static str,
    },
}

#[derive(Debug)]
pub struct RouteSpec {
    pub method: Method,
    pub path: PathSpec,
    pub contract: ContractRule,
    pub scope: Scope,
    /// Bounded metric label.
    pub label: &'static str,
    pub handler: Handler,
    /// Also served under `/v1/v1/…`: the Anthropic SDKs append `/v1/messages` to their base URL,
    /// and our docs give both SDK families a base URL that ends in `/v1`.
    pub doubled_v1: bool,
}

/// Every endpoint the gateway serves.
pub static ROUTES: &[RouteSpec] = &[
    RouteSpec {
        method: Method::POST,
        path: PathSpec::Exact("/v1/chat/completions"),
        contract: ContractRule::Fixed(Contract::OpenAi),
        scope: Scope::Chat,
        label: "chat_completions",
        handler: Handler::Proxy(ClientApi::ChatCompletions),
        doubled_v1: false,
    },
    RouteSpec {
        method: Method::POST,
        path: PathSpec::Exact("/v1/embeddings"),
        contract: ContractRule::Fixed(Contract::OpenAi),
        scope: Scope::Embeddings,
        label: "embeddings",
        handler: Handler::Proxy(ClientApi::Embeddings),
        doubled_v1: false,
    },
    RouteSpec {
        method: Method::POST,
        path: PathSpec::Exact("/v1/responses"),
        contract: ContractRule::Fixed(Contract::OpenAi),
        scope: Scope::Chat,
        label: "responses",
        handler: Handler::Proxy(ClientApi::Responses),
        doubled_v1: false,
    },
    RouteSpec {
        method: Method::GET,
        path: PathSpec::Param {
            prefix: "/v1/responses/",
            suffix: "/input_items",
        },
        contract: ContractRule::Fixed(Contract::OpenAi),
        scope: Scope::Chat,
        label: "responses",
        handler: Handler::Local(Local::ResponseInputItems),
        doubled_v1: false,
    },
    RouteSpec {
        method: Method::GET,
        path: PathSpec::Param {
            prefix: "/v1/responses/",
            suffix: "",
        },
        contract: ContractRule::Fixed(Contract::OpenAi),
        scope: Scope::Chat,
        label: "responses",
        handler: Handler::Local(Local::GetResponse),
        doubled_v1: false,
    },
    RouteSpec {
        method: Method::DELETE,
        path: PathSpec::Param {
            prefix: "/v1/responses/",
            suffix: "",
        },
        contract: ContractRule::Fixed(Contract::OpenAi),
        scope: Scope::Chat,
        label: "responses",
        handler: Handler::Local(Local::DeleteResponse),
        doubled_v1: false,
    },
    RouteSpec {
        method: Method::POST,
        path: PathSpec::Exact("/v1/messages"),
        contract: ContractRule::Fixed(Contract::Anthropic),
        scope: Scope::Chat,
        label: "messages",
        handler: Handler::Proxy(ClientApi::Messages),
        doubled_v1: true,
    },
    RouteSpec {
        method: Method::POST,
        path: PathSpec::Exact("/v1/messages/count_tokens"),
        contract: ContractRule::Fixed(Contract::Anthropic),
        scope: Scope::CountTokens,
        label: "count_tokens",
        handler: Handler::Proxy(ClientApi::CountTokens),
        doubled_v1: true,
    },
    RouteSpec {
        method: Method::GET,
        path: PathSpec::Exact("/v1/models"),
        contract: ContractRule::FollowCaller,
        scope: Scope::ModelsRead,
        label: "models",
        handler: Handler::Local(Local::ListModels),
        doubled_v1: true,
    },
    RouteSpec {
        method: Method::GET,
        path: PathSpec::Param {
            prefix: "/v1/models/",
            suffix: "",
        },
        contract: ContractRule::FollowCaller,
        scope: Scope::ModelsRead,
        label: "models",
        handler: Handler::Local(Local::GetModel),
        doubled_v1: true,
    },
];

/// A request matched to its route.
#[derive(Debug, Clone, Copy)]
pub struct Matched<'p> {
    pub spec: &'static RouteSpec,
    /// The path parameter (model or response id), if the route has one.
    pub param: Option<&'p str>,
}

/// Label for requests that matched no route.
pub const UNKNOWN_ROUTE_LABEL: &str = "other";

fn match_path<'p>(spec: &PathSpec, path: &'p str) -> Option<Option<&'p str>> {
    match *spec {
        PathSpec::Exact(p) => (path == p).then_some(None),
        PathSpec::Param { prefix, suffix } => {
            let param = path.strip_prefix(prefix)?.strip_suffix(suffix)?;
            (!param.is_empty() && !param.contains('/')).then_some(Some(param))
        }
    }
}

/// The route for a method and path (a trailing `/` is ignored), `None` for an unknown URL.
pub fn lookup<'p>(method: &Method, path: &'p str) -> Option<Matched<'p>> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let undoubled = path.strip_prefix("/v1").filter(|p| p.starts_with("/v1/"));
    ROUTES.iter().find_map(|spec| {
        if spec.method != *method {
            return None;
        }
        let param = match_path(&spec.path, path).or_else(|| {
            undoubled
                .filter(|_| spec.doubled_v1)
                .and_then(|p| match_path(&spec.path, p))
        })?;
        Some(Matched { spec, param })
    })
}

impl RouteSpec {
    pub fn contract(&self, headers: &HeaderMap) -> Contract {
        match self.contract {
            ContractRule::Fixed(c) => c,
            ContractRule::FollowCaller => caller_contract(headers),
        }
    }
}

/// The contract of a caller on a shared or unknown route.
pub fn caller_contract(headers: &HeaderMap) -> Contract {
    if headers.contains_key("anthropic-version") {
        Contract::Anthropic
    } else {
        Contract::OpenAi
    }
}

/// The message of an unknown URL's 404: most are a base URL one `/v1` off.
pub fn unknown_url_message(method: &Method, path: &str) -> String {
    let hint = if path.starts_with("/v1/v1/") {
        " The base URL seems to end in /v1 twice: use https://<host>/v1 for the OpenAI SDKs and https://<host> or https://<host>/v1 for the Anthropic SDKs."
    } else if !path.starts_with("/v1/") {
        " Stav serves its API under /v1: set the SDK's base URL to https://<host>/v1."
    } else {
        ""
    };
    format!("Unknown request URL: {method} {path}.{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn label(method: Method, path: &str) -> Option<&'static str> {
        lookup(&method, path).map(|m| m.spec.label)
    }

    fn handler(method: Method, path: &str) -> Option<Handler> {
        lookup(&method, path).map(|m| m.spec.handler)
    }

    #[test]
    fn classifies_endpoints() {
        use ClientApi::*;
        assert_eq!(
            handler(Method::POST, "/v1/chat/completions"),
            Some(Handler::Proxy(ChatCompletions))
        );
        assert_eq!(
            handler(Method::POST, "/v1/chat/completions/"),
            Some(Handler::Proxy(ChatCompletions))
        );
        assert_eq!(handler(Method::GET, "/v1/chat/completions"), None);
        assert_eq!(
            handler(Method::POST, "/v1/embeddings"),
            Some(Handler::Proxy(Embeddings))
        );
        assert_eq!(
            handler(Method::GET, "/v1/models"),
            Some(Handler::Local(Local::ListModels))
        );
        let m = lookup(&Method::GET, "/v1/models/qwen3-32b").unwrap();
        assert_eq!(
            (m.spec.handler, m.param),
            (Handler::Local(Local::GetModel), Some("qwen3-32b"))
        );
        assert_eq!(
            handler(Method::GET, "/v1/models/"),
            Some(Handler::Local(Local::ListModels))
        );
        assert_eq!(
            handler(Method::POST, "/v1/messages"),
            Some(Handler::Proxy(Messages))
        );
        assert_eq!(
            handler(Method::POST, "/v1/messages/count_tokens"),
            Some(Handler::Proxy(CountTokens))
        );
        assert_eq!(handler(Method::POST, "/v2/anything"), None);
        assert_eq!(label(Method::POST, "/v1/messages"), Some("messages"));
    }

    #[test]
    fn responses_routes_and_their_ids() {
        assert_eq!(
            handler(Method::POST, "/v1/responses"),
            Some(Handler::Proxy(ClientApi::Responses))
        );
        let get = lookup(&Method::GET, "/v1/responses/resp_1").unwrap();
        assert_eq!(
            (get.spec.handler, get.param),
            (Handler::Local(Local::GetResponse), Some("resp_1"))
        );
        let items = lookup(&Method::GET, "/v1/responses/resp_1/input_items").unwrap();
        assert_eq!(
            (items.spec.handler, items.param),
            (Handler::Local(Local::ResponseInputItems), Some("resp_1"))
        );
        let del = lookup(&Method::DELETE, "/v1/responses/resp_1").unwrap();
        assert_eq!(del.spec.handler, Handler::Local(Local::DeleteResponse));
        assert!(lookup(&Method::POST, "/v1/responses/resp_1").is_none());
        assert!(lookup(&Method::GET, "/v1/responses/a/b").is_none());
        assert!(lookup(&Method::GET, "/v1/responses").is_none());
    }

    #[test]
    fn anthropic_routes_also_answer_under_a_doubled_v1() {
        assert_eq!(
            handler(Method::POST, "/v1/v1/messages"),
            Some(Handler::Proxy(ClientApi::Messages))
        );
        assert_eq!(
            handler(Method::POST, "/v1/v1/messages/count_tokens"),
            Some(Handler::Proxy(ClientApi::CountTokens))
        );
        assert_eq!(
            handler(Method::GET, "/v1/v1/models"),
            Some(Handler::Local(Local::ListModels))
        );
        let m = lookup(&Method::GET, "/v1/v1/models/claude-x").unwrap();
        assert_eq!(m.param, Some("claude-x"));
        // OpenAI SDKs given a doubled base URL are told so rather than half served.
        assert!(lookup(&Method::POST, "/v1/v1/chat/completions").is_none());
        assert!(unknown_url_message(&Method::POST, "/v1/v1/chat/completions").contains("twice"));
        assert!(unknown_url_message(&Method::POST, "/chat/completions").contains("/v1"));
    }

    #[test]
    fn every_route_has_a_distinct_method_and_path() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{:?} declared twice",
                    a.path
                );
            }
        }
    }

    #[test]
    fn shared_routes_follow_the_caller() {
        let models = lookup(&Method::GET, "/v1/models").unwrap().spec;
        let chat = lookup(&Method::POST, "/v1/chat/completions").unwrap().spec;
        let messages = lookup(&Method::POST, "/v1/messages").unwrap().spec;
        let mut h = HeaderMap::new();
        assert_eq!(models.contract(&h), Contract::OpenAi);
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        assert_eq!(models.contract(&h), Contract::Anthropic);
        assert_eq!(chat.contract(&h), Contract::OpenAi);
        assert_eq!(messages.contract(&HeaderMap::new()), Contract::Anthropic);
    }
}
