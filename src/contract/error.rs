//! Gateway errors, rendered in the caller's contract.

use super::Contract;
use serde_json::json;

/// What went wrong, independent of the contract it is reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidApiKey,
    InvalidRequest,
    ModelNotFound,
    /// The model exists but cannot serve this endpoint (e.g. an embedding model on chat).
    WrongModelKind,
    RouteNotFound,
    BodyTooLarge,
    LengthRequired,
    /// The upstream could not be reached, or refused our credential: a fault on our side.
    UpstreamUnavailable,
    UpstreamTimeout,
    Internal,
    /// An explicit model above the request's sovereignty cap.
    SovereigntyViolation,
    /// `model: "auto"` found no model within the cap.
    NoEligibleModel,
    /// The key may not do this: scope, model allowlist or IP allowlist.
    PermissionDenied,
    /// Over a requests- or tokens-per-minute limit.
    RateLimited,
    /// The key's or team's monthly token budget is spent.
    BudgetExceeded,
    /// The request headers are larger than the gateway accepts.
    HeadersTooLarge,
    /// The client did not send its body in time.
    RequestTimeout,
    /// A stored Responses API answer that does not exist (or belongs to another team).
    ResponseNotFound,
    /// The shared store cannot answer now (a stored response could not be read).
    StoreUnavailable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    pub kind: ErrorKind,
    pub message: String,
    /// The offending field: a name (`model`) or a JSON path (`$.messages[0].content`).
    pub param: Option<std::borrow::Cow<'static, str>>,
    /// The sovereignty cap the request was refused under (`X-Stav-Max-Tier` on policy errors).
    pub cap: Option<crate::tier::Tier>,
    /// What set that cap, as kinds (for traces; never content).
    pub cap_causes: Vec<crate::policy::CauseKind>,
}

impl GatewayError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            param: None,
            cap: None,
            cap_causes: Vec::new(),
        }
    }

    pub fn with_cap(mut self, cap: &crate::policy::Cap) -> Self {
        self.cap = Some(cap.tier);
        self.cap_causes = cap.kinds.clone();
        self
    }

    pub fn with_param(mut self, param: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn status(&self) -> u16 {
        match self.kind {
            ErrorKind::InvalidApiKey => 401,
            ErrorKind::InvalidRequest | ErrorKind::WrongModelKind => 400,
            ErrorKind::ModelNotFound | ErrorKind::RouteNotFound => 404,
            ErrorKind::LengthRequired => 411,
            ErrorKind::BodyTooLarge => 413,
            ErrorKind::UpstreamUnavailable => 502,
            ErrorKind::UpstreamTimeout => 504,
            ErrorKind::Internal => 500,
            ErrorKind::SovereigntyViolation => 403,
            ErrorKind::NoEligibleModel => 503,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::RateLimited | ErrorKind::BudgetExceeded => 429,
            ErrorKind::HeadersTooLarge => 431,
            ErrorKind::RequestTimeout => 408,
            ErrorKind::ResponseNotFound => 404,
            ErrorKind::StoreUnavailable => 503,
        }
    }

    /// OpenAI `error.type`.
    pub fn openai_type(&self) -> &'static str {
        self.openai_type_code().0
    }

    /// OpenAI `(type, code)`.
    pub fn openai_type_code(&self) -> (&'static str, Option<&'static str>) {
        match self.kind {
            ErrorKind::InvalidApiKey => ("invalid_request_error", Some("invalid_api_key")),
            ErrorKind::InvalidRequest => ("invalid_request_error", None),
            ErrorKind::WrongModelKind => ("invalid_request_error", Some("model_not_supported")),
            ErrorKind::ModelNotFound => ("invalid_request_error", Some("model_not_found")),
            ErrorKind::RouteNotFound => ("invalid_request_error", Some("unknown_url")),
            ErrorKind::LengthRequired => ("invalid_request_error", Some("length_required")),
            ErrorKind::BodyTooLarge => ("invalid_request_error", Some("request_too_large")),
            ErrorKind::UpstreamUnavailable => ("server_error", Some("upstream_unavailable")),
            ErrorKind::UpstreamTimeout => ("server_error", Some("upstream_timeout")),
            ErrorKind::Internal => ("server_error", None),
            ErrorKind::SovereigntyViolation => (
                "sovereignty_policy_violation",
                Some("sovereignty_policy_violation"),
            ),
            ErrorKind::NoEligibleModel => ("service_unavailable_error", Some("no_eligible_model")),
            ErrorKind::PermissionDenied => ("permission_error", Some("permission_denied")),
            ErrorKind::RateLimited => ("rate_limit_error", Some("rate_limit_exceeded")),
            // OpenAI's own answer when an account's quota is spent.
            ErrorKind::BudgetExceeded => ("insufficient_quota", Some("insufficient_quota")),
            ErrorKind::HeadersTooLarge => ("invalid_request_error", Some("headers_too_large")),
            ErrorKind::RequestTimeout => ("invalid_request_error", Some("request_timeout")),
            ErrorKind::ResponseNotFound => ("invalid_request_error", Some("response_not_found")),
            ErrorKind::StoreUnavailable => ("server_error", Some("store_unavailable")),
        }
    }

    /// Anthropic `error.type`, from Anthropic's own list.
    pub fn anthropic_type(&self) -> &'static str {
        match self.kind {
            ErrorKind::InvalidApiKey => "authentication_error",
            ErrorKind::InvalidRequest | ErrorKind::WrongModelKind | ErrorKind::LengthRequired => {
                "invalid_request_error"
            }
            ErrorKind::ModelNotFound | ErrorKind::RouteNotFound => "not_found_error",
            ErrorKind::BodyTooLarge => "request_too_large",
            ErrorKind::UpstreamTimeout => "timeout_error",
            ErrorKind::UpstreamUnavailable | ErrorKind::Internal | ErrorKind::NoEligibleModel => {
                "api_error"
            }
            ErrorKind::SovereigntyViolation => "sovereignty_policy_violation",
            ErrorKind::PermissionDenied => "permission_error",
            // Anthropic answers a spent spend limit with a 429 rate_limit_error too.
            ErrorKind::RateLimited | ErrorKind::BudgetExceeded => "rate_limit_error",
            ErrorKind::HeadersTooLarge | ErrorKind::RequestTimeout => "invalid_request_error",
            ErrorKind::ResponseNotFound => "not_found_error",
            ErrorKind::StoreUnavailable => "api_error",
        }
    }

    pub fn body(&self, contract: Contract, request_id: &str) -> Vec<u8> {
        let v = match contract {
            Contract::OpenAi => {
                let (ty, code) = self.openai_type_code();
                json!({"error": {"message": self.message, "type": ty, "param": self.param, "code": code}})
            }
            Contract::Anthropic => json!({
                "type": "error",
                "error": {"type": self.anthropic_type(), "message": self.message},
                "request_id": request_id,
            }),
        };
        serde_json::to_vec(&v).expect("error bodies serialize")
    }

    /// The same error as one SSE event, for a stream whose headers are already sent.
    pub fn sse_event(&self, contract: Contract, request_id: &str) -> Vec<u8> {
        let body = self.body(contract, request_id);
        let mut out = Vec::with_capacity(body.len() + 24);
        match contract {
            Contract::OpenAi => out.extend_from_slice(b"data: "),
            Contract::Anthropic => out.extend_from_slice(b"event: error\ndata: "),
        }
        out.extend_from_slice(&body);
        out.extend_from_slice(b"\n\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn openai_shape() {
        let e = GatewayError::new(ErrorKind::ModelNotFound, "no such model").with_param("model");
        let v: Value = serde_json::from_slice(&e.body(Contract::OpenAi, "req_1")).unwrap();
        assert_eq!(e.status(), 404);
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "model");
        assert_eq!(v["error"]["message"], "no such model");
    }

    #[test]
    fn anthropic_shape() {
        let e = GatewayError::new(ErrorKind::InvalidApiKey, "invalid x-api-key");
        let v: Value = serde_json::from_slice(&e.body(Contract::Anthropic, "req_1")).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "authentication_error");
        assert_eq!(v["request_id"], "req_1");
    }

    #[test]
    fn statuses() {
        for (k, s) in [
            (ErrorKind::InvalidApiKey, 401),
            (ErrorKind::InvalidRequest, 400),
            (ErrorKind::BodyTooLarge, 413),
            (ErrorKind::UpstreamUnavailable, 502),
            (ErrorKind::UpstreamTimeout, 504),
        ] {
            assert_eq!(GatewayError::new(k, "x").status(), s);
        }
    }

    #[test]
    fn sse_error_events_are_single_well_formed_events() {
        let e = GatewayError::new(ErrorKind::UpstreamUnavailable, "upstream closed");
        let o = e.sse_event(Contract::OpenAi, "r");
        assert!(o.starts_with(b"data: {\"error\""));
        assert!(o.ends_with(b"}\n\n"));
        let a = e.sse_event(Contract::Anthropic, "r");
        assert!(a.starts_with(b"event: error\ndata: {\"type\":\"error\""));
    }
}
