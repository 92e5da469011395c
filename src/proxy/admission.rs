//! The request phase: which endpoint, who is calling, what they asked for, and the plan.

use super::body::{read_request_body, BodyRead};
use super::ctx::Ctx;
use super::respond::{send_error, send_json, send_json_with_tier, PResult};
use super::Gateway;
use crate::auth;
use crate::contract::{self, contract_for, ErrorKind, GatewayError, Route};
use crate::metrics;
use crate::plan::{model_not_found, plan_anthropic, plan_openai, Caller, Decision};
use crate::tier::Tier;
use pingora_proxy::Session;

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
        send_error(
            session,
            ctx,
            &GatewayError::new(ErrorKind::RouteNotFound, msg),
        )
        .await?;
        return Ok(true);
    }

    let key = match auth::authenticate(&gw.cfg.keys, &session.req_header().headers) {
        Ok(key) => {
            ctx.key_id = Some(key.id.clone());
            key
        }
        Err(why) => {
            metrics::AUTH_FAILURES
                .with_label_values(&[why.as_label()])
                .inc();
            let msg = match why {
                auth::AuthFailure::Missing => {
                    "You didn't provide an API key. Send it as `Authorization: Bearer <key>` or `x-api-key: <key>`."
                }
                auth::AuthFailure::Unknown => "Incorrect API key provided.",
            };
            send_error(
                session,
                ctx,
                &GatewayError::new(ErrorKind::InvalidApiKey, msg),
            )
            .await?;
            return Ok(true);
        }
    };

    match ctx.route {
        Route::Models => {
            let body =
                contract::models_list(gw.cfg.catalogue.listable(), ctx.contract, gw.started_unix);
            send_json(session, ctx, 200, body).await?;
            return Ok(true);
        }
        Route::Model => {
            let id = session.req_header().uri.path()["/v1/models/".len()..].to_string();
            match gw.cfg.catalogue.listable().find(|e| e.name == id) {
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

    let body = match read_request_body(session, gw.cfg.server.max_body_bytes).await? {
        BodyRead::Complete(b) => b,
        BodyRead::TooLarge => {
            metrics::REJECTED
                .with_label_values(&["body_too_large"])
                .inc();
            let msg = format!(
                "The request body exceeds the limit of {} bytes.",
                gw.cfg.server.max_body_bytes
            );
            send_error(
                session,
                ctx,
                &GatewayError::new(ErrorKind::BodyTooLarge, msg),
            )
            .await?;
            return Ok(true);
        }
        BodyRead::LengthRequired => {
            metrics::REJECTED
                .with_label_values(&["length_required"])
                .inc();
            let msg = "Chunked request bodies above 64 KiB are not supported; send Content-Length.";
            send_error(
                session,
                ctx,
                &GatewayError::new(ErrorKind::LengthRequired, msg),
            )
            .await?;
            return Ok(true);
        }
    };

    let header_max_tier = match session.req_header().headers.get("x-stav-max-tier") {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|v| v.trim().parse::<Tier>().ok()) {
            Some(t) => Some(t),
            None => {
                let msg =
                    "X-Stav-Max-Tier must be sovereign, routed-commercial or global-commercial.";
                send_error(
                    session,
                    ctx,
                    &GatewayError::new(ErrorKind::InvalidRequest, msg),
                )
                .await?;
                return Ok(true);
            }
        },
    };
    let team = gw.cfg.team(&key.team);
    let caller = Caller {
        team: &team,
        key_max_tier: key.max_tier,
        header_max_tier,
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
    match planned {
        Ok(Decision::Proxy(plan)) => {
            ctx.plan = Some(*plan);
            Ok(false)
        }
        Ok(Decision::Answer { tier, cap, body }) => {
            ctx.cap = Some(cap);
            send_json_with_tier(session, ctx, 200, body, Some(tier)).await?;
            Ok(true)
        }
        Err(err) => {
            let reason = match err.kind {
                ErrorKind::SovereigntyViolation => "sovereignty_policy_violation",
                ErrorKind::NoEligibleModel => "no_eligible_model",
                ErrorKind::ModelNotFound => "model_not_found",
                ErrorKind::WrongModelKind => "wrong_model_kind",
                _ => "bad_request",
            };
            metrics::REJECTED.with_label_values(&[reason]).inc();
            ctx.cap = err.cap;
            send_error(session, ctx, &err).await?;
            Ok(true)
        }
    }
}
