//! Failover before the first byte: when a deployment cannot be reached, answers 5xx, 429 or
//! 529, or stalls or drops the connection before its response header, and nothing has reached
//! the client yet, the request moves to the next deployment in its plan (all within the
//! caller's sovereignty cap, fixed when the plan was made). After the first byte, never.

use super::ctx::Ctx;
use super::Gateway;
use crate::limits::now_ms;
use crate::metrics;
use std::time::Duration;

/// Upstream answers worth another deployment: overload, rate limits and server errors. Other
/// 4xx are about the request itself and would fail anywhere.
pub fn retryable_status(status: u16) -> Option<&'static str> {
    match status {
        429 => Some("status_429"),
        529 => Some("status_529"),
        500..=599 => Some("status_5xx"),
        _ => None,
    }
}

/// The pause before attempt `n` (1-based retries): short, since the next attempt goes to
/// another deployment, but growing so a burst of failures does not hammer every deployment.
pub fn backoff(attempt: usize) -> Duration {
    match attempt {
        0 => Duration::ZERO,
        n => Duration::from_millis((25u64 << (n - 1).min(3)).min(200)),
    }
}

/// Record the active deployment's failure and activate the next one; `false` when there is none
/// (or the attempts are spent), and the failure is final.
pub fn advance(gw: &Gateway, ctx: &mut Ctx, reason: &'static str) -> bool {
    crate::telemetry::attempt_ended(ctx, reason);
    let Some(plan) = ctx.plan.as_mut() else {
        return false;
    };
    gw.health.failure(plan.active.model, now_ms());
    let next = ctx.attempt + 1;
    if next >= plan.attempts.len() || next >= gw.cfg.server.max_upstream_attempts {
        return false;
    }
    let (model, provider) = gw.health.labels(plan.active.model);
    metrics::FAILOVERS
        .with_label_values(&[model, provider, reason])
        .inc();
    log::info!(
        "{}: {model} on {provider} failed ({reason}); trying the next deployment",
        ctx.request_id
    );
    ctx.attempt = next;
    plan.activate(next);
    // The next attempt starts clean: nothing of the failed answer was kept.
    ctx.upstream_status = None;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_overload_and_server_errors_fail_over() {
        for s in [429, 500, 502, 503, 504, 529] {
            assert!(retryable_status(s).is_some(), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 413, 422] {
            assert!(retryable_status(s).is_none(), "{s}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let b: Vec<u64> = (0..6).map(|n| backoff(n).as_millis() as u64).collect();
        assert_eq!(b, [0, 25, 50, 100, 200, 200]);
    }
}
