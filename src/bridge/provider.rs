//! What crosses the gateway in headers, per provider API, whichever contract the client spoke.
//!
//! Both directions are allowlists. Up: content negotiation, the API's protocol headers
//! (`anthropic-version`, `anthropic-beta`), the provider's configured `forward_headers`, and then
//! the gateway's own (credential, Host, length, request id) — never the client's credentials,
//! cookies, `OpenAI-Organization`/`-Project` (billing on the gateway's account), forwarding or
//! control headers. Back: framing and caching, `retry-after`, the upstream's request id (moved to
//! `x-upstream-request-id`), and on Claude's verbatim path what its SDKs read (`request-id`,
//! `anthropic-ratelimit-*`) — never cookies, server banners, or the provider's account headers.

use super::PResult;
use crate::config::ProviderApi;
use crate::scrub::Secrets;
use http::{header, HeaderMap, HeaderName, HeaderValue};
use pingora_error::ErrorType::{InternalError, InvalidHTTPHeader};
use pingora_error::OrErr;
use pingora_http::RequestHeader;

/// Anthropic's API refuses requests without a version; OpenAI clients reaching Claude send none.
pub const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

/// Headers a provider's `forward_headers` may not name: credentials, hop-by-hop and framing
/// headers, and the gateway's own controls.
pub const NEVER_FORWARDED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "cookie",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "x-stav-",
];

/// Client headers every provider API gets.
const UP_COMMON: &[&str] = &["content-type", "accept"];
/// And Anthropic's, for its protocol version and beta features.
const UP_ANTHROPIC: &[&str] = &["anthropic-version", "anthropic-beta"];

fn matches(name: &str, allowed: &[String]) -> bool {
    allowed.iter().any(|a| match a.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == a,
    })
}

/// The gateway's own headers on an upstream request, beside the client's it keeps.
#[derive(Debug)]
pub struct Own<'a> {
    /// The upstream's `Host`.
    pub host: &'a HeaderValue,
    /// The provider's ready-made credential value (`Authorization` or `x-api-key`).
    pub credential: Option<&'a HeaderValue>,
    /// The provider's configured `forward_headers` (exact names or `prefix*`).
    pub forward: &'a [String],
    pub content_length: usize,
    pub request_id: &'a str,
}

static USER_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("stav-gateway/", env!("CARGO_PKG_VERSION")));
static ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");
static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The client's trace context never goes up as it came, even where `forward` would pass it: the
/// gateway's own goes up in its place (none with tracing off).
const CLIENT_TRACE: &[&str] = &["traceparent", "tracestate"];

/// The head sent upstream, made new: `Host`, then only the client headers the provider's API
/// needs (and `forward`), then the gateway's credential, the API's defaults, the body's length,
/// the request id and `trace` (the gateway's trace context).
///
/// Built rather than edited because editing Pingora's copy of the client's head is what cost:
/// every `insert_header` parses the name again and writes a second, case-preserving map, and a
/// header past the map's capacity regrows both. A plain map sized for what it will hold, filled
/// with names built once, costs a fraction of that. Names go up in lower case, as HTTP/2 sends
/// them and HTTP/1.1 allows.
pub fn upstream_head(
    api: ProviderApi,
    client: &RequestHeader,
    path: &str,
    own: &Own<'_>,
    trace: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
) -> PResult<RequestHeader> {
    let mut headers = HeaderMap::with_capacity(client.headers.len() + 8);
    headers.insert(header::HOST, own.host.clone());
    // Fields the client's `Connection` names are hop-by-hop (RFC 9110 §7.6.1): never forwarded,
    // even when allowed. (Pingora's own sanitizer is off for these requests: it would edit a
    // head that is dropped here.)
    let hop = client.headers.get_all(header::CONNECTION);
    let nominated = |name: &str| {
        hop.iter().any(|v| {
            v.as_bytes()
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
        })
    };
    for (k, v) in client.headers.iter() {
        let name = k.as_str();
        let allowed = UP_COMMON.contains(&name)
            || (api == ProviderApi::Anthropic && UP_ANTHROPIC.contains(&name))
            || (matches(name, own.forward) && !CLIENT_TRACE.contains(&name));
        if allowed && !nominated(name) {
            headers.append(k.clone(), v.clone());
        }
    }
    headers.insert(header::USER_AGENT, USER_AGENT.clone());
    match api {
        ProviderApi::OpenAi => {
            if let Some(cred) = own.credential {
                headers.insert(header::AUTHORIZATION, cred.clone());
            }
        }
        ProviderApi::Anthropic => {
            if !headers.contains_key(&ANTHROPIC_VERSION) {
                headers.insert(
                    ANTHROPIC_VERSION.clone(),
                    HeaderValue::from_static(DEFAULT_ANTHROPIC_VERSION),
                );
            }
            if let Some(cred) = own.credential {
                headers.insert(X_API_KEY.clone(), cred.clone());
            }
        }
    }
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(own.content_length),
    );
    let id = HeaderValue::from_str(own.request_id)
        .or_err(InvalidHTTPHeader, "request id is not a header value")?;
    headers.insert(X_REQUEST_ID.clone(), id);
    for (k, v) in trace {
        headers.insert(k, v);
    }
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = client.method.clone();
    parts.version = client.version;
    parts.uri = http::Uri::try_from(path).or_err(InternalError, "upstream path")?;
    parts.headers = headers;
    Ok(RequestHeader::from(parts))
}

/// Upstream answer headers every client may get.
const BACK_COMMON: &[&str] = &[
    "content-type",
    "content-length",
    "transfer-encoding",
    "content-encoding",
    "cache-control",
    "date",
    "retry-after",
    "retry-after-ms",
    // Moved to `x-upstream-request-id` by the response phase.
    "x-request-id",
];
/// Claude's verbatim pass-through: what the Anthropic SDKs read.
const BACK_VERBATIM_ANTHROPIC: &[&str] = &["request-id"];
const BACK_VERBATIM_ANTHROPIC_PREFIX: &str = "anthropic-ratelimit-";

/// Room made for the gateway's own answer headers (tier, cap, request ids, rate limits, routing).
const GATEWAY_ANSWER_HEADERS: usize = 16;

/// Keep only the upstream answer headers the client may see, and none that carries a provider
/// credential in any form (an upstream that echoes what it was sent). The kept ones are moved
/// into a new map with room for the gateway's own, so nothing is removed from the upstream's map
/// and nothing added afterwards makes it grow.
pub fn retain_answer_headers(
    headers: &mut http::HeaderMap,
    verbatim_anthropic: bool,
    secrets: &Secrets,
) {
    let upstream = std::mem::take(headers);
    let mut kept = HeaderMap::with_capacity(upstream.len() + GATEWAY_ANSWER_HEADERS);
    // The map's iterator names a header once, before the first of its values.
    let mut name: Option<HeaderName> = None;
    for (k, v) in upstream {
        if k.is_some() {
            name = k;
        }
        let Some(k) = name.as_ref() else { continue };
        let n = k.as_str();
        let allowed = BACK_COMMON.contains(&n)
            || (verbatim_anthropic
                && (BACK_VERBATIM_ANTHROPIC.contains(&n)
                    || n.starts_with(BACK_VERBATIM_ANTHROPIC_PREFIX)));
        if allowed && !secrets.found_in(v.as_bytes()) {
            kept.append(k.clone(), v);
        }
    }
    *headers = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/v1/messages", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    fn names(r: &RequestHeader) -> Vec<String> {
        let mut n: Vec<String> = r.headers.keys().map(|k| k.to_string()).collect();
        n.sort();
        n
    }

    const CLIENT: &[(&str, &str)] = &[
        ("content-type", "application/json"),
        ("accept", "text/event-stream"),
        ("authorization", "Bearer hm_live_client"),
        ("x-api-key", "hm_live_client"),
        ("openai-organization", "org-attacker"),
        ("openai-project", "proj-attacker"),
        ("cookie", "session=1"),
        ("x-forwarded-for", "203.0.113.9"),
        ("x-stav-max-tier", "sovereign"),
        ("x-custom", "1"),
        ("x-script-content", "hi"),
        ("anthropic-version", "2026-10-21"),
        ("anthropic-beta", "a"),
        ("anthropic-beta", "b"),
        ("user-agent", "client/1"),
    ];

    /// The upstream head for `client` with the gateway's usual own headers.
    fn up(
        api: ProviderApi,
        client: &RequestHeader,
        credential: Option<&HeaderValue>,
        forward: &[String],
    ) -> RequestHeader {
        let host = HeaderValue::from_static("api.example:8443");
        let own = Own {
            host: &host,
            credential,
            forward,
            content_length: 17,
            request_id: "req_1",
        };
        upstream_head(api, client, "/v1/chat/completions?x=1", &own, None).unwrap()
    }

    #[test]
    fn only_allowed_headers_go_up_with_the_gateways_credential() {
        let cred = http::HeaderValue::from_static("Bearer sk-up");
        let r = up(ProviderApi::OpenAi, &request(CLIENT), Some(&cred), &[]);
        assert_eq!(
            names(&r),
            vec![
                "accept",
                "authorization",
                "content-length",
                "content-type",
                "host",
                "user-agent",
                "x-request-id"
            ]
        );
        assert_eq!(r.headers.get("authorization").unwrap(), "Bearer sk-up");
        assert!(r.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("stav-gateway/"));
        assert_eq!(r.headers["host"], "api.example:8443");
        assert_eq!(r.headers["content-length"], "17");
        assert_eq!(r.headers["x-request-id"], "req_1");
        assert_eq!(r.method, http::Method::POST);
        assert_eq!(r.raw_path(), b"/v1/chat/completions?x=1");
        // Every header once (the client's `user-agent` is replaced, not joined), `Host` first.
        assert_eq!(r.headers.len(), 7);
        assert_eq!(r.headers.keys().next().unwrap(), "host");

        let key = http::HeaderValue::from_static("sk-ant-up");
        let r = up(
            ProviderApi::Anthropic,
            &request(CLIENT),
            Some(&key),
            &["x-script*".into()],
        );
        assert_eq!(
            names(&r),
            vec![
                "accept",
                "anthropic-beta",
                "anthropic-version",
                "content-length",
                "content-type",
                "host",
                "user-agent",
                "x-api-key",
                "x-request-id",
                "x-script-content"
            ]
        );
        assert_eq!(r.headers.get_all("anthropic-beta").iter().count(), 2);
        assert_eq!(r.headers["x-api-key"], "sk-ant-up");
        assert_eq!(r.headers["anthropic-version"], "2026-10-21");
        let r = up(
            ProviderApi::Anthropic,
            &request(&[("content-type", "application/json")]),
            None,
            &[],
        );
        assert_eq!(r.headers["anthropic-version"], DEFAULT_ANTHROPIC_VERSION);
        assert!(r.headers.get("x-api-key").is_none());
    }

    #[test]
    fn headers_the_clients_connection_names_are_not_forwarded() {
        let mut client = request(CLIENT);
        client
            .append_header("connection", "keep-alive, Anthropic-Beta")
            .unwrap();
        client
            .append_header("connection", " x-script-content ")
            .unwrap();
        let key = http::HeaderValue::from_static("sk-ant-up");
        let r = up(
            ProviderApi::Anthropic,
            &client,
            Some(&key),
            &["x-script*".into()],
        );
        for gone in ["anthropic-beta", "x-script-content", "connection"] {
            assert!(r.headers.get(gone).is_none(), "{gone} went up");
        }
        // What the client did not name still goes.
        assert_eq!(r.headers["anthropic-version"], "2026-10-21");
        assert_eq!(r.headers["content-type"], "application/json");
    }

    #[test]
    fn the_upstream_head_goes_out_on_the_wire_as_built() {
        let cred = http::HeaderValue::from_static("Bearer sk-up");
        let r = up(ProviderApi::OpenAi, &request(CLIENT), Some(&cred), &[]);
        let mut wire = Vec::new();
        r.header_to_h1_wire(&mut wire);
        // Pingora writes well-known names title-cased, the others as they are in the map.
        let wire = String::from_utf8(wire).unwrap().to_ascii_lowercase();
        assert!(wire.starts_with("host: api.example:8443\r\n"), "{wire}");
        for line in [
            "authorization: bearer sk-up\r\n",
            "content-length: 17\r\n",
            "x-request-id: req_1\r\n",
        ] {
            assert_eq!(wire.matches(line).count(), 1, "{wire}");
        }
        assert!(!wire.contains("hm_live_client"), "{wire}");
    }

    #[test]
    fn a_request_id_that_is_no_header_value_is_an_error_not_a_panic() {
        let host = HeaderValue::from_static("h");
        let own = Own {
            host: &host,
            credential: None,
            forward: &[],
            content_length: 0,
            request_id: "bad\nid",
        };
        let client = request(&[]);
        assert!(upstream_head(ProviderApi::OpenAi, &client, "/v1/x", &own, None).is_err());
    }

    #[test]
    fn answers_keep_only_what_clients_read_and_never_a_credential() {
        let secrets = Secrets::new([&b"Bearer sk-upstream-secret-1234"[..]]);
        let mut resp = http::HeaderMap::new();
        for (k, v) in [
            ("content-type", "application/json"),
            ("x-request-id", "up-1"),
            ("request-id", "req_anthropic"),
            ("anthropic-ratelimit-requests-remaining", "9"),
            ("anthropic-organization-id", "org-ours"),
            ("openai-organization", "org-ours"),
            ("set-cookie", "x=1"),
            ("server", "uvicorn"),
            ("retry-after", "1"),
            ("x-echo-auth", "Bearer sk-upstream-secret-1234"),
            ("cache-control", "no-cache sk-upstream-secret-1234"),
            ("retry-after", "2"),
            ("x-request-id", "sk-upstream-secret-1234"),
        ] {
            resp.append(
                http::HeaderName::from_static(k),
                http::HeaderValue::from_static(v),
            );
        }
        let mut verbatim = resp.clone();
        retain_answer_headers(&mut resp, false, &secrets);
        let mut kept: Vec<&str> = resp.keys().map(|k| k.as_str()).collect();
        kept.sort();
        assert_eq!(kept, vec!["content-type", "retry-after", "x-request-id"]);
        // Values are judged one by one: the clean ones stay, in their order.
        let all = |m: &http::HeaderMap, k: &str| -> Vec<String> {
            m.get_all(k)
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(all(&resp, "x-request-id"), ["up-1"]);
        assert_eq!(all(&resp, "retry-after"), ["1", "2"]);
        assert!(resp.capacity() >= resp.len() + GATEWAY_ANSWER_HEADERS);
        retain_answer_headers(&mut verbatim, true, &secrets);
        let mut kept: Vec<&str> = verbatim.keys().map(|k| k.as_str()).collect();
        kept.sort();
        assert_eq!(
            kept,
            vec![
                "anthropic-ratelimit-requests-remaining",
                "content-type",
                "request-id",
                "retry-after",
                "x-request-id"
            ]
        );
    }
}
