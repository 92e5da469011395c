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

/// Keep only the client headers the provider's API needs (and `forward`), then set the
/// gateway's credential and the API's defaults.
pub fn edit_upstream(
    api: ProviderApi,
    req: &mut RequestHeader,
    credential: Option<&http::HeaderValue>,
    forward: &[String],
) -> PResult<()> {
    let dropped: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|k| {
            let k = k.as_str();
            let allowed = UP_COMMON.contains(&k)
                || (api == ProviderApi::Anthropic && UP_ANTHROPIC.contains(&k))
                || matches(k, forward);
            !allowed
        })
        .cloned()
        .collect();
    for k in dropped {
        req.remove_header(&k);
    }
    req.insert_header(
        "user-agent",
        concat!("stav-gateway/", env!("CARGO_PKG_VERSION")),
    )?;
    match api {
        ProviderApi::OpenAi => {
            if let Some(cred) = credential {
                req.insert_header("authorization", cred.clone())?;
            }
        }
        ProviderApi::Anthropic => {
            if req.headers.get("anthropic-version").is_none() {
                req.insert_header("anthropic-version", DEFAULT_ANTHROPIC_VERSION)?;
            }
            if let Some(cred) = credential {
                req.insert_header("x-api-key", cred.clone())?;
            }
        }
    }
    Ok(())
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

/// Keep only the upstream answer headers the client may see, and none that carries a provider
/// credential in any form (an upstream that echoes what it was sent).
pub fn retain_answer_headers(
    headers: &mut http::HeaderMap,
    verbatim_anthropic: bool,
    secrets: &Secrets,
) {
    let dropped: Vec<http::HeaderName> = headers
        .iter()
        .filter(|(k, v)| {
            let k = k.as_str();
            let allowed = BACK_COMMON.contains(&k)
                || (verbatim_anthropic
                    && (BACK_VERBATIM_ANTHROPIC.contains(&k)
                        || k.starts_with(BACK_VERBATIM_ANTHROPIC_PREFIX)));
            !allowed || secrets.found_in(v.as_bytes())
        })
        .map(|(k, _)| k.clone())
        .collect();
    for k in dropped {
        headers.remove(&k);
    }
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

    #[test]
    fn only_allowed_headers_go_up_with_the_gateways_credential() {
        let cred = http::HeaderValue::from_static("Bearer sk-up");
        let mut r = request(CLIENT);
        edit_upstream(ProviderApi::OpenAi, &mut r, Some(&cred), &[]).unwrap();
        assert_eq!(
            names(&r),
            vec!["accept", "authorization", "content-type", "user-agent"]
        );
        assert_eq!(r.headers.get("authorization").unwrap(), "Bearer sk-up");
        assert!(r.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("stav-gateway/"));

        let key = http::HeaderValue::from_static("sk-ant-up");
        let mut r = request(CLIENT);
        edit_upstream(
            ProviderApi::Anthropic,
            &mut r,
            Some(&key),
            &["x-script*".into()],
        )
        .unwrap();
        assert_eq!(
            names(&r),
            vec![
                "accept",
                "anthropic-beta",
                "anthropic-version",
                "content-type",
                "user-agent",
                "x-api-key",
                "x-script-content"
            ]
        );
        assert_eq!(r.headers.get_all("anthropic-beta").iter().count(), 2);
        assert_eq!(r.headers["x-api-key"], "sk-ant-up");
        assert_eq!(r.headers["anthropic-version"], "2026-10-21");
        let mut r = request(&[("content-type", "application/json")]);
        edit_upstream(ProviderApi::Anthropic, &mut r, None, &[]).unwrap();
        assert_eq!(r.headers["anthropic-version"], DEFAULT_ANTHROPIC_VERSION);
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
