//! The request phase: which endpoint, who is calling and from where, what they may do, what they
//! asked for, the plan, and whether their rate limits let it through.

use super::body::{read_request_body, BodyRead};
use super::ctx::Ctx;
use super::respond::{send_error, send_json, send_json_with_tier, PResult};
use super::Gateway;
use crate::auth::{self, access, client_ip::client_ip};
use crate::contract::{self, contract_for, ErrorKind, GatewayError, Route};
use crate::keys::record::now_unix;
use crate::keys::KeyRecord;
use crate::limits::{self, Limited};
use crate::metrics;
use crate::plan::{model_not_found, plan_anthropic, plan_openai, Caller, Decision, Plan};
use crate::tier::Tier;
use pingora_proxy::Session;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// Output tokens reserved for a chat request that names no budget; corrected at the end.
const DEFAULT_OUTPUT_RESERVE: u64 = 1024;

/// `Ok(true)`: the gateway answered itself; `Ok(false)`: `ctx.plan` is set, proxy it.
pub async fn admit(gw: &Gateway, session: &mut Session, ctx: &mut Ctx) -> PResult<bool> {
    let req = session.req_header();
    ctx.route = Route::classify(&req.method, req.uri.path());
    ctx.contract = contract_for(ctx.route, &req.headers);

    if ctx.route == Route::Other {
        metrics::REJECTED
            .with_label_values(&["unknown_route"])
            .inc();
        let msg = format!("Unknown request URL: {} {}.", req.method, req.uri.path());
        return refuse(session, ctx, ErrorKind::RouteNotFound, msg).await;
    }

    if headers_too_large(session.req_header(), gw.cfg.server.max_header_bytes) {
        metrics::REJECTED
            .with_label_values(&["headers_too_large"])
            .inc();
        let msg = "The request headers are too large.";
        return refuse(session, ctx, ErrorKind::HeadersTooLarge, msg).await;
    }

    let Some(key) = identify(gw, session, ctx).await? else {
        return Ok(true);
    };

    match ctx.route {
        Route::Models => {
            let listed = gw
                .cfg
                .catalogue
                .listable()
                .filter(|e| key.allows_model(&e.name));
            let body = contract::models_list(listed, ctx.contract, gw.started_unix);
            send_json(session, ctx, 200, body).await?;
            return Ok(true);
        }
        Route::Model => {
            let id = session.req_header().uri.path()["/v1/models/".len()..].to_string();
            match gw
                .cfg
                .catalogue
                .listable()
                .find(|e| e.name == id && key.allows_model(&e.name))
            {
                Some(e) => {
                    let body = contract::models::model_object(e, ctx.contract, gw.started_unix);
                    send_json(session, ctx, 200, body).await?;
                }
                None => send_error(session, ctx, &model_not_found(&id)).await?,
            }
            return Ok(true);
        }
        _ => {}
    }

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

    let header_max_tier = match session.req_header().headers.get("x-stav-max-tier") {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|v| v.trim().parse::<Tier>().ok()) {
            Some(t) => Some(t),
            None => {
                let msg =
                    "X-Stav-Max-Tier must be sovereign, routed-commercial or global-commercial.";
                return refuse(session, ctx, ErrorKind::InvalidRequest, msg).await;
            }
        },
    };
    let team = gw.cfg.team(&key.team);
    let caller = Caller {
        team: &team,
        key_max_tier: key.max_tier,
        header_max_tier,
        models: &key.models,
    };
    let planned = match ctx.route {
        Route::ChatCompletions | Route::Embeddings => {
            plan_openai(&gw.cfg, &caller, ctx.route, &body).map(|p| Decision::Proxy(Box::new(p)))
        }
        Route::Messages | Route::CountTokens => {
            let query = session.req_header().uri.query().map(str::to_string);
            plan_anthropic(&gw.cfg, &caller, ctx.route, &body, query.as_deref())
        }
        Route::Models | Route::Model | Route::Other => unreachable!("answered above"),
    };
    let decision = match planned {
        Ok(d) => d,
        Err(err) => {
            let reason = match err.kind {
                ErrorKind::SovereigntyViolation => "sovereignty_policy_violation",
                ErrorKind::NoEligibleModel => "no_eligible_model",
                ErrorKind::ModelNotFound => "model_not_found",
                ErrorKind::WrongModelKind => "wrong_model_kind",
                ErrorKind::PermissionDenied => {
                    metrics::ACCESS_DENIED.with_label_values(&["model"]).inc();
                    "permission_denied"
                }
                _ => "bad_request",
            };
            metrics::REJECTED.with_label_values(&[reason]).inc();
            ctx.cap = err.cap;
            send_error(session, ctx, &err).await?;
            return Ok(true);
        }
    };

    // Limits are checked last: a request refused for any other reason costs nothing.
    let tokens = match &decision {
        Decision::Proxy(plan) => reserve_tokens(ctx.route, plan, body.len()),
        Decision::Answer { .. } => 0,
    };
    let buckets = limits::buckets(
        &key.id,
        (key.rpm, key.tpm),
        &team.name,
        (team.rpm, team.tpm),
        tokens,
    );
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
        Decision::Answer { tier, cap, body } => {
            ctx.cap = Some(cap);
            send_json_with_tier(session, ctx, 200, body, Some(tier)).await?;
            Ok(true)
        }
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

/// The key, checked against the snapshot, then its IP allowlist and scope. `None`: refused and
/// answered.
async fn identify(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut Ctx,
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
    if let Err(denied) = access::check(&key, ctx.route, client) {
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
fn reserve_tokens(route: Route, plan: &Plan, body_len: usize) -> u64 {
    let input = body_len as u64 / 4;
    match route {
        Route::ChatCompletions | Route::Messages => {
            input + plan.max_output.unwrap_or(DEFAULT_OUTPUT_RESERVE)
        }
        Route::Embeddings => input,
        _ => 0,
    }
}

async fn rate_limited(session: &mut Session, ctx: &mut Ctx, l: Limited) -> PResult<bool> {
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

async fn refuse(
    session: &mut Session,
    ctx: &mut Ctx,
    kind: ErrorKind,
    msg: impl Into<String>,
) -> PResult<bool> {
    send_error(session, ctx, &GatewayError::new(kind, msg)).await?;
    Ok(true)
}
