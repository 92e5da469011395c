//! The response phases: the headers every proxied answer carries, and the tap its body goes
//! through — asked of the plan's bridge once, when the upstream's header arrives.

use super::ctx::Ctx;
use super::respond::PResult;
use super::Gateway;
use crate::bridge::{provider, Answer};
use crate::contract::{ErrorKind, GatewayError};
use crate::headers::{self, ClientHead};
use crate::metrics;
use crate::plan::Plan;
use crate::scrub::Secrets;
use crate::tap::{BodyTap, TapEnv};
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora_error::{Error, ErrorType};
use pingora_http::ResponseHeader;
use std::time::Instant;

/// The upstream's own header, before the client sees anything: the upstream's refusal of our
/// credential becomes our 502.
pub fn on_upstream_header(gw: &Gateway, resp: &ResponseHeader, ctx: &mut Ctx) -> PResult<()> {
    let status = resp.status.as_u16();
    ctx.upstream_status = Some(status);
    let provider = ctx.plan.as_ref().map_or("unknown", |p| {
        gw.cfg.provider(p.active.provider).name.as_str()
    });
    let kind = match status {
        401 | 403 => "upstream_auth",
        429 => "http_429",
        500..=599 => "http_5xx",
        _ => return Ok(()),
    };
    metrics::UPSTREAM_ERRORS
        .with_label_values(&[provider, kind])
        .inc();
    if matches!(status, 401 | 403) {
        // Our credential was refused: the upstream's body may quote it, and the client's key is
        // fine. Answer 502 in the client's contract instead.
        ctx.failure = Some(GatewayError::new(
            ErrorKind::UpstreamUnavailable,
            "The model's upstream refused the gateway's credentials. This is a gateway configuration problem, not a problem with your API key.",
        ));
        return Error::e_explain(
            ErrorType::HTTPStatus(502),
            "upstream refused our credential",
        );
    }
    Ok(())
}

fn is_sse(head: &ClientHead) -> bool {
    head.get(&headers::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

/// What every proxied answer carries, whatever the bridge: the tier that served it, the cap,
/// the rate-limit state, the router's choice, and the upstream's own request id under its name.
fn gateway_headers(
    plan: &Plan,
    rate_headers: &[(&'static str, String)],
    head: &mut ClientHead,
) -> PResult<()> {
    let tier = |t: crate::tier::Tier| HeaderValue::from_static(t.as_str());
    head.insert(headers::X_STAV_SOVEREIGNTY_TIER, tier(plan.active.tier));
    head.insert(headers::X_STAV_MAX_TIER, tier(plan.cap));
    for (name, value) in rate_headers {
        head.insert_str(HeaderName::from_static(name), value)?;
    }
    if let Some(r) = &plan.routing {
        head.insert_str(headers::X_STAV_SELECTED_MODEL, &r.selected_model)?;
        // Header values are ASCII.
        head.insert_str(headers::X_STAV_ROUTING_REASON, &r.reason.replace('→', "->"))?;
    }
    if let Some(up) = head.get(&headers::X_REQUEST_ID).cloned() {
        head.insert(headers::X_UPSTREAM_REQUEST_ID, up);
    }
    Ok(())
}

/// The client's header for an upstream answer, and the tap its body goes through. Pure: the
/// plan, the request's id and rate headers, and the credentials the answer's headers may not
/// carry.
pub fn client_answer(
    plan: &Plan,
    request_id: &str,
    rate_headers: &[(&'static str, String)],
    secrets: &Secrets,
    resp: &mut ResponseHeader,
) -> PResult<Box<dyn BodyTap>> {
    let mut head = ClientHead::take(resp)?;
    provider::retain_answer_headers(&mut head.parts.headers, plan.bridge.verbatim(), secrets);
    gateway_headers(plan, rate_headers, &mut head)?;
    let status = head.status();
    let routing = plan.routing.as_ref().map(|r| r.metadata.get().as_bytes());
    let answer = Answer {
        status,
        sse: is_sse(&head),
        request_id,
        routing,
    };
    let tap = plan.bridge.answer(&answer, &mut head);
    head.put(resp);
    tap
}

pub fn on_client_header(gw: &Gateway, resp: &mut ResponseHeader, ctx: &mut Ctx) -> PResult<()> {
    let plan = ctx.plan.as_ref().expect("proxied responses have a plan");
    let tap = client_answer(plan, &ctx.request_id, &ctx.rate_headers, &gw.secrets, resp)?;
    ctx.stream_open = tap.streaming();
    ctx.tap = Some(tap);
    if !gw.secrets.is_empty() {
        // Whatever the tap makes of the body, the client gets it through the scrubber: a
        // credential the upstream quotes (escaped or not, in an error or a stream) never leaves.
        ctx.scrub = Some(gw.secrets.stream());
    }
    if ctx.stream_open {
        metrics::ACTIVE_STREAMS
            .with_label_values(&[ctx.route_label()])
            .inc();
    }
    Ok(())
}

/// Ask the tap; `true` once the stream is complete on the client's side (the first time only).
pub fn on_body(body: &mut Option<Bytes>, end_of_stream: bool, ctx: &mut Ctx) -> bool {
    if ctx.first_byte.is_none() && body.as_ref().is_some_and(|b| !b.is_empty()) {
        ctx.first_byte = Some(Instant::now());
    }
    let Some(tap) = ctx.tap.as_mut() else {
        return false;
    };
    let env = TapEnv {
        contract: ctx.contract,
        request_id: &ctx.request_id,
    };
    *body = tap.on_body(body.take(), end_of_stream, &env);
    if let Some(s) = ctx.scrub.as_mut() {
        *body = s.process(body.take(), end_of_stream);
    }
    if let Some(b) = body.as_deref() {
        ctx.sent_bytes += b.len() as u64;
        if ctx.stream_open {
            // One event per token, roughly, as servers stream: the ledger's output estimate
            // when a stream ends without its usage.
            ctx.sent_events += memchr::memmem::find_iter(b, b"\n\n").count() as u64;
        }
    }
    if let Some(u) = tap.usage() {
        ctx.usage = Some(u);
    }
    let complete = !end_of_stream && !ctx.client_has_all && tap.finished();
    if complete {
        ctx.client_has_all = true;
    }
    complete
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::contract::routes::ClientApi;
    use crate::contract::Contract;
    use crate::plan::{plan, Caller, Decision};
    use crate::request::ClientRequest;
    use crate::tap::run;
    use std::path::Path;

    fn config() -> Config {
        let dir = std::env::temp_dir().join(format!("stav-response-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keys.toml"), "").unwrap();
        let text = r#"
[[providers]]
name = "vllm"
api = "openai"
base_url = "http://127.0.0.1:1/v1"
[[providers]]
name = "anthropic"
api = "anthropic"
base_url = "https://api.anthropic.com"
[[models]]
name = "qwen3-32b"
provider = "vllm"
tier = "sovereign"
[[models]]
name = "claude-*"
provider = "anthropic"
tier = "global-commercial"
[[teams]]
name = "t"
router = { default = "qwen3-32b" }
"#;
        Config::from_toml(text, &dir, Path::new("t.toml")).unwrap()
    }

    fn planned(api: ClientApi, body: &'static str) -> Box<Plan> {
        let cfg = config();
        let team = cfg.team("t");
        let caller = Caller {
            team: &team,
            key_max_tier: None,
            header_max_tier: None,
            models: &[],
        };
        let body = Bytes::from_static(body.as_bytes());
        match plan(
            &cfg,
            &caller,
            &ClientRequest::new(api, &body, None).unwrap(),
        )
        .unwrap()
        {
            Decision::Proxy(p) => p,
            Decision::Answer { .. } => panic!("expected a proxied plan"),
        }
    }

    fn upstream(status: u16, content_type: &str, len: Option<usize>) -> ResponseHeader {
        let mut h = ResponseHeader::build(status, None).unwrap();
        h.insert_header("content-type", content_type).unwrap();
        h.insert_header("x-request-id", "up-1").unwrap();
        if let Some(n) = len {
            h.insert_header("content-length", n.to_string()).unwrap();
        }
        h
    }

    fn header<'a>(h: &'a ResponseHeader, name: &str) -> Option<&'a str> {
        h.headers.get(name).map(|v| v.to_str().unwrap())
    }

    const OPENAI: TapEnv = TapEnv {
        contract: Contract::OpenAi,
        request_id: "req_1",
    };

    #[test]
    fn every_answer_carries_tier_cap_rate_and_request_ids() {
        let p = planned(
            ClientApi::ChatCompletions,
            r#"{"model":"qwen3-32b","messages":[]}"#,
        );
        let rate = vec![("x-ratelimit-limit-requests", "60".to_string())];
        let mut h = upstream(200, "application/json", Some(2));
        client_answer(&p, "req_1", &rate, &Secrets::default(), &mut h).unwrap();
        assert_eq!(header(&h, "x-stav-sovereignty-tier"), Some("sovereign"));
        assert_eq!(header(&h, "x-stav-max-tier"), Some("global-commercial"));
        assert_eq!(header(&h, "x-ratelimit-limit-requests"), Some("60"));
        assert_eq!(header(&h, "x-request-id"), Some("req_1"));
        assert_eq!(header(&h, "request-id"), Some("req_1"));
        assert_eq!(header(&h, "x-upstream-request-id"), Some("up-1"));
        assert_eq!(header(&h, "content-length"), Some("2"), "passes unchanged");
    }

    #[test]
    fn routed_answers_name_the_choice_and_carry_the_metadata() {
        let p = planned(
            ClientApi::ChatCompletions,
            r#"{"model":"auto","messages":[{"role":"user","content":"hi"}]}"#,
        );
        let body = br#"{"id":"c","choices":[]}"#;
        let mut h = upstream(200, "application/json", Some(body.len()));
        let mut tap = client_answer(&p, "req_1", &[], &Secrets::default(), &mut h).unwrap();
        assert_eq!(header(&h, "x-stav-selected-model"), Some("qwen3-32b"));
        assert!(header(&h, "x-stav-routing-reason").unwrap().contains("->"));
        let out = run(tap.as_mut(), &[body], &OPENAI);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["routing_metadata"]["selected_model"], "qwen3-32b");
        assert_eq!(header(&h, "content-length").unwrap(), out.len().to_string());
    }

    #[test]
    fn upstream_errors_are_held_whole_and_successes_are_not() {
        let p = planned(
            ClientApi::ChatCompletions,
            r#"{"model":"qwen3-32b","messages":[]}"#,
        );
        let mut h = upstream(400, "application/json", Some(40));
        let mut tap = client_answer(&p, "req_1", &[], &Secrets::default(), &mut h).unwrap();
        assert_eq!(header(&h, "transfer-encoding"), Some("chunked"));
        let first = tap.on_body(Some(Bytes::from_static(b"{\"error\":")), false, &OPENAI);
        assert_eq!(first, None, "held");
        let rest = tap.on_body(Some(Bytes::from_static(b"1}")), true, &OPENAI);
        assert_eq!(rest.as_deref(), Some(&b"{\"error\":1}"[..]));
        let mut h = upstream(200, "application/json", None);
        let mut tap = client_answer(&p, "req_1", &[], &Secrets::default(), &mut h).unwrap();
        let first = tap.on_body(Some(Bytes::from_static(b"{\"a\"")), false, &OPENAI);
        assert_eq!(first.as_deref(), Some(&b"{\"a\""[..]));
    }

    #[test]
    fn streams_open_only_on_a_successful_event_stream() {
        let p = planned(
            ClientApi::ChatCompletions,
            r#"{"model":"qwen3-32b","stream":true,"messages":[]}"#,
        );
        let mut h = upstream(200, "text/event-stream", None);
        let tap = client_answer(&p, "req_1", &[], &Secrets::default(), &mut h).unwrap();
        assert!(tap.streaming());
        let mut h = upstream(500, "text/event-stream", None);
        let tap = client_answer(&p, "req_1", &[], &Secrets::default(), &mut h).unwrap();
        assert!(!tap.streaming());
        let mut h = upstream(200, "application/json", None);
        let tap = client_answer(&p, "req_1", &[], &Secrets::default(), &mut h).unwrap();
        assert!(
            !tap.streaming(),
            "a JSON answer to a stream request is not a stream"
        );
    }

    #[test]
    fn translated_errors_change_status_and_contract() {
        // Anthropic client, OpenAI upstream: a 503 is Anthropic's 529 overloaded_error.
        let p = planned(
            ClientApi::Messages,
            r#"{"model":"qwen3-32b","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
        );
        let mut h = upstream(503, "application/json", Some(10));
        let mut tap = client_answer(&p, "req_1", &[], &Secrets::default(), &mut h).unwrap();
        assert_eq!(h.status.as_u16(), 529);
        let env = TapEnv {
            contract: Contract::Anthropic,
            request_id: "req_1",
        };
        let out = run(
            tap.as_mut(),
            &[br#"{"error":{"message":"busy","type":"x"}}"#],
            &env,
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "overloaded_error");
        assert_eq!(v["request_id"], "req_1");

        // OpenAI client, Claude upstream: the Anthropic error in OpenAI's shape.
        let p = planned(
            ClientApi::ChatCompletions,
            r#"{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}"#,
        );
        let mut h = upstream(429, "application/json", Some(10));
        let mut tap = client_answer(&p, "req_1", &[], &Secrets::default(), &mut h).unwrap();
        let out = run(
            tap.as_mut(),
            &[br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}"#],
            &OPENAI,
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert_eq!(v["error"]["message"], "slow");
    }
}
