//! The request phase: which endpoint, who is calling and from where, what they may do, what they
//! asked for, the plan, and whether their rate limits let it through. The decisions are pure
//! functions (below, unit-tested); `admit` only sequences them over the session.

use super::body::{read_request_body, BodyRead};
use super::ctx::Ctx;
use super::respond::{send_error, send_json_with_tier, PResult};
use super::{local, Gateway};
use crate::auth::{self, access, client_ip::client_ip};
use crate::contract::routes::{self, ClientApi, Handler, Reserve};
use crate::contract::{ErrorKind, GatewayError};
use crate::keys::record::now_unix;
use crate::keys::KeyRecord;
use crate::limits::{self, Limited};
use crate::metrics;
use crate::plan::{self, Caller, Decision};
use crate::request::{ClientRequest, History};
use crate::tier::Tier;
use http::HeaderMap;
use pingora_proxy::Session;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// Output tokens reserved for a request that names no budget; corrected at the end.
const DEFAULT_OUTPUT_RESERVE: u64 = 1024;

/// `Ok(true)`: the gateway answered itself; `Ok(false)`: `ctx.plan` is set, proxy it.
pub async fn admit(gw: &Gateway, session: &mut Session, ctx: &mut Ctx) -> PResult<bool> {
    let req = session.req_header();
    let Some(matched) = routes::lookup(&req.method, req.uri.path()) else {
        ctx.contract = routes::caller_contract(&req.headers);
        metrics::REJECTED
            .with_label_values(&["unknown_route"])
            .inc();
        let msg = routes::unknown_url_message(&req.method, req.uri.path());
        return refuse(session, ctx, ErrorKind::RouteNotFound, msg).await;
    };
    let spec = matched.spec;
    let param = matched.param.map(str::to_string);
    ctx.route = Some(spec);
    ctx.contract = spec.contract(&req.headers);

    if headers_too_large(session.req_header(), gw.cfg.server.max_header_bytes) {
        metrics::REJECTED
            .with_label_values(&["headers_too_large"])
            .inc();
        let msg = "The request headers are too large.";
        return refuse(session, ctx, ErrorKind::HeadersTooLarge, msg).await;
    }

    let Some(key) = identify(gw, session, ctx, spec.scope).await? else {
        return Ok(true);
    };

    let api = match spec.handler {
        Handler::Local(what) => {
            local::answer(gw, session, ctx, &key, what, param.as_deref()).await?;
            return Ok(true);
        }
        Handler::Proxy(api) => api,
    };

    session.set_read_timeout(Some(gw.cfg.server.body_read_timeout));
    let body = match read_request_body(session, gw.cfg.server.max_body_bytes).await? {
        BodyRead::Complete(b) => b,
        BodyRead::TimedOut => {
            metrics::REJECTED.with_label_values(&["body_timeout"]).inc();
            let msg = "The request body did not arrive in time.";
            return refuse(session, ctx, ErrorKind::RequestTimeout, msg).await;
        }
        BodyRead::TooLarge => {
            metrics::REJECTED
                .with_label_values(&["body_too_large"])
                .inc();
            let msg = format!(
                "The request body exceeds the limit of {} bytes.",
                gw.cfg.server.max_body_bytes
            );
            return refuse(session, ctx, ErrorKind::BodyTooLarge, msg).await;
        }
        BodyRead::LengthRequired => {
            metrics::REJECTED
                .with_label_values(&["length_required"])
                .inc();
            let msg = "Chunked request bodies above 64 KiB are not supported; send Content-Length.";
            return refuse(session, ctx, ErrorKind::LengthRequired, msg).await;
        }
    };

    let header_max_tier = match header_max_tier(&session.req_header().headers) {
        Ok(t) => t,
        Err(err) => {
            send_error(session, ctx, &err).await?;
            return Ok(true);
        }
    };
    let team = gw.cfg.team(&key.team);
    let caller = Caller {
        team: &team,
        key_max_tier: key.max_tier,
        header_max_tier,
        models: &key.models,
    };
    let query = session.req_header().uri.query().map(str::to_string);
    ctx.input_estimate = body.len() as u64 / 4;
    let planned = match ClientRequest::new(api, &body, query.as_deref()) {
        Ok(mut req) => {
            ctx.requested_model = Some(crate::ledger::hook::bounded(&req.view.model));
            match continued(gw, &key.team, &req).await {
                Ok(history) => {
                    req.history = history;
                    req.keep_responses = gw.store.responses.enabled();
                    off_worker(body.len(), || plan::plan(&gw.cfg, &caller, &req))
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    let decision = match planned {
        Ok(d) => d,
        Err(err) => {
            if err.kind == ErrorKind::PermissionDenied {
                metrics::ACCESS_DENIED.with_label_values(&["model"]).inc();
            }
            metrics::REJECTED
                .with_label_values(&[refusal_label(err.kind)])
                .inc();
            ctx.cap = err.cap;
            send_error(session, ctx, &err).await?;
            return Ok(true);
        }
    };

    // Limits are checked last: a request refused for any other reason costs nothing.
    let tokens = match &decision {
        Decision::Proxy(plan) => reserve_tokens(api.reservation(), plan.max_output, body.len()),
        Decision::Answer { .. } => 0,
    };
    let mut buckets = limits::buckets(
        &key.id,
        (key.rpm, key.tpm),
        &team.name,
        (team.rpm, team.tpm),
        tokens,
    );
    buckets.extend(limits::budget_buckets(
        &key.id,
        key.budget_tokens_month,
        &team.name,
        team.budget_tokens_month,
        tokens,
        limits::now_ms(),
    ));
    match gw.store.limiter.acquire(&buckets).await {
        Ok(admitted) => {
            ctx.rate_headers = admitted.headers.0;
            ctx.reservation = admitted.reservation;
        }
        Err(limited) => {
            if let Decision::Proxy(plan) = &decision {
                ctx.cap = Some(plan.cap);
            }
            return rate_limited(session, ctx, limited).await;
        }
    }

    match decision {
        Decision::Proxy(mut plan) => {
            if plan.attempts.len() > 1 {
                gw.health
                    .order(&gw.cfg.catalogue, &mut plan.attempts, limits::now_ms());
                plan.activate(0);
            }
            ctx.plan = Some(plan);
            Ok(false)
        }
        Decision::Answer {
            model,
            tier,
            cap,
            cap_causes,
            body,
        } => {
            ctx.cap = Some(cap);
            crate::telemetry::note_cap_causes(ctx, cap_causes);
            ctx.answered = Some((model, tier));
            send_json_with_tier(session, ctx, 200, body, Some(tier)).await?;
            Ok(true)
        }
    }
}

/// The stored conversation a Responses API request continues (`previous_response_id`), if any:
/// only the team's own, and only while the store keeps it.
async fn continued(
    gw: &Gateway,
    team: &str,
    req: &ClientRequest<'_>,
) -> Result<Option<History>, GatewayError> {
    let Some(id) = req.view.previous_response_id.as_deref() else {
        return Ok(None);
    };
    if req.api != ClientApi::Responses {
        return Ok(None);
    }
    if !gw.store.responses.enabled() {
        return Err(GatewayError::new(
            ErrorKind::InvalidRequest,
            "previous_response_id cannot be used: this gateway keeps no responses ([responses] store = false). Send the whole conversation in `input` instead.",
        )
        .with_param("previous_response_id"));
    }
    match gw.store.responses.get(id, team).await {
        Ok(Some(stored)) => Ok(Some(History {
            items: stored.conversation(),
            cap: stored.cap,
        })),
        Ok(None) => Err(GatewayError::new(
            ErrorKind::ResponseNotFound,
            format!("Previous response with id '{id}' not found."),
        )
        .with_param("previous_response_id")),
        Err(_) => Err(GatewayError::new(
            ErrorKind::StoreUnavailable,
            "The response store is unavailable; try again shortly.",
        )),
    }
}

/// Request line and headers over the configured size. (Ambiguous framing never gets here:
/// Pingora drops `Content-Length` when `Transfer-Encoding` is present and refuses differing
/// lengths while parsing, per RFC 9112.)
fn headers_too_large(req: &pingora_http::RequestHeader, max_header_bytes: usize) -> bool {
    let size: usize = req.uri.path_and_query().map_or(0, |p| p.as_str().len())
        + req
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>();
    size > max_header_bytes
}

/// `X-Stav-Max-Tier`: a cap can only be lowered, so when the header comes more than once (or
/// as a list), the lowest tier wins; any value that is not a tier is a 400.
pub fn header_max_tier(headers: &HeaderMap) -> Result<Option<Tier>, GatewayError> {
    let mut lowest: Option<Tier> = None;
    for value in headers.get_all("x-stav-max-tier") {
        for item in value.to_str().unwrap_or("\u{0}").split(',') {
            let tier = item.trim().parse::<Tier>().map_err(|_| {
                GatewayError::new(
                    ErrorKind::InvalidRequest,
                    "X-Stav-Max-Tier must be sovereign, routed-commercial or global-commercial.",
                )
            })?;
            lowest = Some(lowest.map_or(tier, |l| l.min(tier)));
        }
    }
    Ok(lowest)
}

/// Bounded label of `stav_requests_rejected_total` for a planning refusal.
pub fn refusal_label(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::SovereigntyViolation => "sovereignty_policy_violation",
        ErrorKind::NoEligibleModel => "no_eligible_model",
        ErrorKind::ModelNotFound => "model_not_found",
        ErrorKind::WrongModelKind => "wrong_model_kind",
        ErrorKind::PermissionDenied => "permission_denied",
        _ => "bad_request",
    }
}

/// The key, checked against the snapshot, then its IP allowlist and the route's scope. `None`:
/// refused and answered.
async fn identify(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut Ctx,
    scope: crate::keys::Scope,
) -> PResult<Option<Arc<KeyRecord>>> {
    let headers = &session.req_header().headers;
    let key = match auth::authenticate(&gw.store.keys(), headers, now_unix()) {
        Ok(key) => key,
        Err(why) => {
            metrics::AUTH_FAILURES
                .with_label_values(&[why.as_label()])
                .inc();
            // One answer for every kind of bad key: nothing to learn from probing.
            let msg = match why {
                auth::AuthFailure::Missing => {
                    "You didn't provide an API key. Send it as `Authorization: Bearer <key>` or `x-api-key: <key>`."
                }
                _ => "Incorrect API key provided.",
            };
            refuse(session, ctx, ErrorKind::InvalidApiKey, msg).await?;
            return Ok(None);
        }
    };
    ctx.key = Some(key.clone());
    let peer = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let client = client_ip(peer, headers, &gw.cfg.server.trusted_proxies);
    if let Err(denied) = access::check(&key, scope, client) {
        metrics::ACCESS_DENIED
            .with_label_values(&[denied.reason])
            .inc();
        refuse(session, ctx, ErrorKind::PermissionDenied, denied.message).await?;
        return Ok(None);
    }
    Ok(Some(key))
}

/// A rough input estimate (4 bytes a token) plus the output budget: reserved now, corrected from
/// the upstream's usage when the answer ends.
pub fn reserve_tokens(rule: Reserve, max_output: Option<u64>, body_len: usize) -> u64 {
    let input = body_len as u64 / 4;
    match rule {
        Reserve::InputAndOutput => input + max_output.unwrap_or(DEFAULT_OUTPUT_RESERVE),
        Reserve::Input => input,
        Reserve::Nothing => 0,
    }
}

async fn rate_limited(session: &mut Session, ctx: &mut Ctx, l: Limited) -> PResult<bool> {
    if l.kind == limits::Kind::Budget {
        return budget_spent(session, ctx, l).await;
    }
    let secs = l.retry_after_secs();
    ctx.rate_headers = l.headers.0.clone();
    ctx.rate_headers.push(("retry-after", secs.to_string()));
    ctx.rate_headers
        .push(("retry-after-ms", l.retry_after_ms.max(1).to_string()));
    let msg = format!(
        "Rate limit reached: {} {} per minute for this {}. Try again in {secs} s.",
        l.limit,
        l.kind.as_str(),
        l.owner.as_str()
    );
    refuse(session, ctx, ErrorKind::RateLimited, msg).await
}

/// A spent monthly budget: OpenAI's `insufficient_quota` (Anthropic: a 429 `rate_limit_error`).
/// Waiting a minute does not help, so the SDKs are told not to retry.
async fn budget_spent(session: &mut Session, ctx: &mut Ctx, l: Limited) -> PResult<bool> {
    ctx.rate_headers = l.headers.0.clone();
    ctx.rate_headers
        .push(("x-should-retry", "false".to_string()));
    let renews = limits::month::label(limits::month::index(limits::now_ms() + l.retry_after_ms));
    let msg = format!(
        "You exceeded your current quota: this {}'s monthly budget of {} tokens is spent. It renews on {renews}-01 (UTC).",
        l.owner.as_str(),
        l.limit
    );
    refuse(session, ctx, ErrorKind::BudgetExceeded, msg).await
}

async fn refuse(
    session: &mut Session,
    ctx: &mut Ctx,
    kind: ErrorKind,
    msg: impl Into<String>,
) -> PResult<bool> {
    send_error(session, ctx, &GatewayError::new(kind, msg)).await?;
    Ok(true)
}

/// Bodies from this size are planned off the worker's queue.
const OFF_WORKER_BYTES: usize = 64 << 10;

/// Planning scans the whole body (up to the scan budget, tens of milliseconds for megabytes): above
/// `OFF_WORKER_BYTES` the worker hands its other tasks to another thread first
/// (`block_in_place`), so a large request never stalls the small ones queued behind it. Pingora's
/// work-stealing runtime is multi-threaded; on any other runtime the work runs in place.
fn off_worker<T>(len: usize, f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if len >= OFF_WORKER_BYTES && multi {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

#[cfg(test)]
mod tests {

    /// A large body's planning must leave the worker's other tasks free to run: on a runtime with
    /// one worker, the planning closure waits for a task queued behind it, which can only run if
    /// the worker was handed off.
    #[test]
    fn large_bodies_are_planned_off_the_worker() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let ran = rt.block_on(async {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let planning = tokio::spawn(async move {
                off_worker(OFF_WORKER_BYTES, || {
                    rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok()
                })
            });
            // Queued behind the planning task on the one worker.
            let queued = tokio::spawn(async move { tx.send(()).unwrap() });
            let ran = planning.await.unwrap();
            queued.await.unwrap();
            ran
        });
        assert!(ran, "the queued task never ran while the body was planned");
        // Small bodies, and runtimes without other workers, run in place.
        assert_eq!(off_worker(10, || 7), 7);
        let single = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(
            single.block_on(async { off_worker(OFF_WORKER_BYTES, || 8) }),
            8
        );
    }

    use super::*;
    use http::HeaderValue;

    #[test]
    fn repeated_tier_headers_can_only_lower_the_cap() {
        let mut h = HeaderMap::new();
        assert_eq!(header_max_tier(&h).unwrap(), None);
        h.append(
            "x-stav-max-tier",
            HeaderValue::from_static("global-commercial"),
        );
        assert_eq!(header_max_tier(&h).unwrap(), Some(Tier::GlobalCommercial));
        h.append("x-stav-max-tier", HeaderValue::from_static("sovereign"));
        assert_eq!(header_max_tier(&h).unwrap(), Some(Tier::Sovereign));
        let mut h = HeaderMap::new();
        h.append(
            "x-stav-max-tier",
            HeaderValue::from_static(" routed-commercial , global-commercial"),
        );
        assert_eq!(header_max_tier(&h).unwrap(), Some(Tier::RoutedCommercial));
        h.append("x-stav-max-tier", HeaderValue::from_static("public"));
        assert_eq!(header_max_tier(&h).unwrap_err().status(), 400);
        let mut h = HeaderMap::new();
        h.append(
            "x-stav-max-tier",
            HeaderValue::from_bytes(b"sovereign\xff").unwrap(),
        );
        assert!(header_max_tier(&h).is_err(), "not text: refused");
    }

    #[test]
    fn every_proxied_api_reserves_by_its_rule() {
        let body = 4000;
        assert_eq!(
            reserve_tokens(ClientApi::ChatCompletions.reservation(), None, body),
            1000 + DEFAULT_OUTPUT_RESERVE
        );
        assert_eq!(
            reserve_tokens(ClientApi::Responses.reservation(), Some(10), body),
            1010
        );
        assert_eq!(
            reserve_tokens(ClientApi::Messages.reservation(), Some(7), body),
            1007
        );
        assert_eq!(
            reserve_tokens(ClientApi::Embeddings.reservation(), Some(7), body),
            1000
        );
        assert_eq!(
            reserve_tokens(ClientApi::CountTokens.reservation(), Some(7), body),
            0
        );
    }

    #[test]
    fn refusals_have_bounded_labels() {
        assert_eq!(
            refusal_label(ErrorKind::SovereigntyViolation),
            "sovereignty_policy_violation"
        );
        assert_eq!(refusal_label(ErrorKind::InvalidRequest), "bad_request");
        assert_eq!(refusal_label(ErrorKind::Internal), "bad_request");
    }

    #[test]
    fn oversized_headers_count_the_target_and_every_line() {
        let mut req =
            pingora_http::RequestHeader::build("POST", b"/v1/chat/completions", None).unwrap();
        req.insert_header("x-a", "b".repeat(100)).unwrap();
        assert!(!headers_too_large(&req, 200));
        assert!(headers_too_large(&req, 100));
    }
}
