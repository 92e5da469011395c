//! The `ProxyHttp` implementation. Each phase is a thin hook over the pure modules:
//!
//! ```text
//! request_filter          route → key → body (bounded) → plan        (admission.rs, local.rs)
//! upstream_peer           the plan's provider                         (phases below)
//! upstream_request_filter path, Host, Content-Length; the bridge's header edits
//! request_body_filter     emit the planned body
//! upstream_response_filter upstream 401/403 become our 502, failover
//! response_filter         tier + request-id headers; the bridge picks the tap (response.rs)
//! response_body_filter    ask the tap                                 (response.rs)
//! fail_to_proxy           errors in the caller's contract             (failure.rs)
//! logging                 metrics + access log                        (logging.rs)
//! ```

mod admission;
pub use admission::header_max_tier;
mod body;
pub mod ctx;
mod failover;
mod failure;
mod local;
mod logging;
mod respond;
mod response;

use crate::bridge::provider::Own;
use crate::config::Config;
use crate::contract::{ErrorKind, GatewayError};
use crate::health::Health;
use crate::metrics;
use crate::scrub::Secrets;
use crate::store::Store;
use crate::upstream::Upstream;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use ctx::Ctx;
use pingora_core::upstreams::peer::{HttpPeer, HttpUpstreamRequestPolicy};
use pingora_error::{Error, ErrorType};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};
use respond::PResult;
use std::sync::Arc;
use std::time::Duration;

/// The Pingora service: hands each request the configuration current when it starts.
pub struct Edge {
    /// Shared with the configuration reload service, which swaps in a new `Gateway`; requests in
    /// flight finish under the one they started with.
    pub live: Arc<ArcSwap<Gateway>>,
}

/// Everything a request is served under: configuration, resolved upstreams, deployment health,
/// and the shared key store and limiter (which outlive reloads).
pub struct Gateway {
    pub cfg: Arc<Config>,
    pub upstreams: Vec<Upstream>,
    /// Every upstream credential in every form it could come back in.
    pub secrets: Secrets,
    /// Keys snapshot and rate limiter, shared with the key sync service.
    pub store: Arc<Store>,
    /// Passive health of every deployment.
    pub health: Health,
    /// `created` for catalogue models that do not set one: when this process started serving.
    pub started_unix: u64,
    /// The request ledger, when `[ledger]` is configured (it outlives reloads, like the store).
    pub ledger: Option<Arc<crate::ledger::Ledger>>,
}

impl Gateway {
    pub fn new(cfg: Arc<Config>, upstreams: Vec<Upstream>, store: Arc<Store>) -> Self {
        let started_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let secrets = Secrets::new(
            upstreams
                .iter()
                .filter_map(|u| u.credential.as_ref().map(|c| c.as_bytes())),
        );
        Self {
            secrets,
            health: Health::new(&cfg.catalogue),
            cfg,
            upstreams,
            store,
            started_unix,
            ledger: None,
        }
    }

    pub fn with_ledger(mut self, ledger: Option<Arc<crate::ledger::Ledger>>) -> Self {
        self.ledger = ledger;
        self
    }
}

#[async_trait]
impl ProxyHttp for Edge {
    type CTX = Ctx;

    fn init_downstream_modules(&self, _modules: &mut pingora_core::modules::http::HttpModules) {
        // None: Pingora's default adds a disabled compression module, which still costs every
        // request an allocation and a boxed filter call per body read.
    }

    fn new_ctx(&self) -> Ctx {
        Ctx::new(self.live.load_full())
    }

    async fn early_request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> PResult<()> {
        ctx.trace = crate::telemetry::begin(&session.req_header().headers);
        // Requests a client pipelines on one connection are answered in order (RFC 9112
        // §9.3.2), rather than the connection closing after the first with the rest unanswered.
        session.as_downstream_mut().set_pipelining_enabled(true);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> PResult<bool> {
        admission::admit(&ctx.gw.clone(), session, ctx).await
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> PResult<Box<HttpPeer>> {
        let gw = ctx.gw.clone();
        let pause = failover::backoff(ctx.attempt);
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        crate::telemetry::attempt_started(ctx);
        let plan = ctx.plan.as_ref().ok_or_else(|| {
            Error::explain(ErrorType::InternalError, "no plan for a proxied request")
        })?;
        let up = &gw.upstreams[plan.active.provider];
        let t = &up.timeouts;
        let mut peer = HttpPeer::new(up.addr, up.tls, up.sni.clone());
        peer.options.connection_timeout = Some(t.connect);
        peer.options.total_connection_timeout = Some(t.connect * 2);
        // One timeout bounds every read: a whole answer's header comes after the generation,
        // a stream's at once, and then it is the gaps that can stall.
        peer.options.read_timeout = Some(if plan.stream { t.idle } else { t.first_byte });
        peer.options.write_timeout = Some(Duration::from_secs(30));
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        // The upstream head is made new from an allowlist (`bridge::provider::upstream_head`),
        // which leaves out hop-by-hop and `Connection`-named fields itself: Pingora's sanitizer
        // would only edit the copy of the client's head that is then dropped.
        peer.options.http_upstream_request_policy = HttpUpstreamRequestPolicy::preserve();
        // Separate connection pools per tier: a sovereign request never rides a commercial socket.
        peer.group_key = plan.active.tier as u64;
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> PResult<()> {
        let gw = ctx.gw.clone();
        let plan = ctx
            .plan
            .as_ref()
            .expect("upstream phases run only with a plan");
        let up = &gw.upstreams[plan.active.provider];
        let own = Own {
            host: &up.authority,
            credential: up.credential.as_ref(),
            forward: &gw.cfg.provider(plan.active.provider).forward_headers,
            content_length: plan.active.body.len(),
            request_id: &ctx.request_id,
        };
        let trace = crate::telemetry::upstream_headers(ctx);
        *req = plan
            .bridge
            .upstream_head(req, &plan.active.path, &own, trace)?;
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> PResult<()> {
        if let Some(plan) = &ctx.plan {
            // `None` would mean end of body; an empty chunk means "nothing yet".
            *body = Some(if end_of_stream {
                plan.active.body.clone()
            } else {
                Bytes::new()
            });
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> PResult<()> {
        let gw = ctx.gw.clone();
        let status = resp.status.as_u16();
        crate::telemetry::attempt_answered(ctx, status);
        if let Some(reason) = failover::retryable_status(status) {
            // Failing over throws this answer away; the last deployment's is what the client gets.
            if session.response_written().is_none() && failover::advance(&gw, ctx, reason) {
                ctx.failing_over = true;
                return Err(Error::explain(
                    ErrorType::HTTPStatus(status),
                    "upstream refused; failing over",
                ));
            }
        } else if let Some(plan) = &ctx.plan {
            gw.health.success(plan.active.model);
        }
        response::on_upstream_header(&gw, resp, ctx)
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        let gw = ctx.gw.clone();
        let mut e = e.more_context(format!("Peer: {peer}"));
        if std::mem::take(&mut ctx.failing_over) {
            e.set_retry(true);
            return e;
        }
        let before_first_byte =
            session.response_written().is_none() && ctx.upstream_status.is_none();
        if !before_first_byte {
            e.set_retry(false);
            return e;
        }
        // A pooled connection the upstream had closed: nothing reached the model, try it again.
        if client_reused && !ctx.reuse_retried && e.etype() == &ErrorType::ConnectionClosed {
            ctx.reuse_retried = true;
            crate::telemetry::attempt_ended(ctx, "closed_reused");
            e.set_retry(true);
            return e;
        }
        let reason = match e.etype() {
            ErrorType::ReadTimedout => "timeout",
            _ => "closed",
        };
        let retry = failover::advance(&gw, ctx, reason);
        e.set_retry(retry);
        e
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> PResult<()> {
        response::on_client_header(&ctx.gw.clone(), resp, ctx)
    }

    fn response_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> PResult<Option<Duration>> {
        let gw = ctx.gw.clone();
        if let Some(plan) = &ctx.plan {
            let total = gw.upstreams[plan.active.provider].timeouts.total;
            if !end_of_stream && ctx.started.elapsed() > total {
                // Headers are out: `fail_to_proxy` ends the stream with this error event.
                ctx.failure = Some(GatewayError::new(
                    ErrorKind::UpstreamTimeout,
                    "The model's answer took longer than the gateway allows (total_timeout_ms).",
                ));
                *body = None;
                let e = Error::explain(ErrorType::ReadTimedout, "total timeout");
                logging::upstream_error(&gw, ctx, &e);
                return Err(e);
            }
        }
        if response::on_body(body, end_of_stream, ctx) {
            // The client has the whole answer and may hang up now: its close must not cut the
            // upstream body short, so the upstream connection goes back to the pool.
            session.as_downstream_mut().set_abort_on_close(false);
        }
        Ok(None)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let gw = ctx.gw.clone();
        logging::upstream_error(&gw, ctx, &e);
        // Nothing was sent: another deployment is always safe to try.
        let retry = failover::advance(&gw, ctx, "connect");
        e.set_retry(retry);
        e
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let gw = ctx.gw.clone();
        let decided = ctx.failure.take();
        if decided.is_none() && e.esource() == &pingora_error::ErrorSource::Upstream {
            logging::upstream_error(&gw, ctx, e);
        }
        let err = decided.or_else(|| failure::classify(e));
        let code = match err {
            None => 0,
            Some(err) => {
                let code = err.status();
                if session.response_written().is_none() {
                    if let Err(write_err) = respond::send_error(session, ctx, &err).await {
                        log::debug!("{}: could not write error: {write_err}", ctx.request_id);
                    }
                } else if ctx.stream_open {
                    // Headers are out: end the stream with an error event, never a silent stop.
                    let env = crate::tap::TapEnv {
                        contract: ctx.contract,
                        request_id: &ctx.request_id,
                    };
                    let event = match ctx.tap.as_mut() {
                        Some(tap) => tap.fail(&err, &env),
                        None => Bytes::from(err.sse_event(ctx.contract, &ctx.request_id)),
                    };
                    // The event may quote the upstream; whatever the scrubber held goes first.
                    let event = match ctx.scrub.as_mut() {
                        Some(s) => s.process(Some(event), true),
                        None => Some(event),
                    };
                    let _ = session.write_response_body(event, true).await;
                }
                code
            }
        };
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        reused: bool,
        _peer: &HttpPeer,
        #[cfg(unix)] _fd: std::os::unix::io::RawFd,
        #[cfg(windows)] _sock: std::os::windows::io::RawSocket,
        _digest: Option<&pingora_core::protocols::Digest>,
        ctx: &mut Ctx,
    ) -> PResult<()> {
        let gw = ctx.gw.clone();
        if let Some(plan) = &ctx.plan {
            let provider = gw.cfg.provider(plan.active.provider).name.as_str();
            metrics::UPSTREAM_CONNECTIONS
                .with_label_values(&[provider, if reused { "true" } else { "false" }])
                .inc();
        }
        Ok(())
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &Ctx, _e: &Error) -> bool {
        // Failures are reported once, in `logging`, with the request id.
        true
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let gw = ctx.gw.clone();
        crate::telemetry::finish(&gw, session, e, ctx);
        logging::finish(&gw, session, e, ctx);
        if let Some(kept) = logging::kept_response(ctx) {
            gw.store.responses.put(&kept.0, kept.1).await;
        }
        if let Some(r) = ctx.reservation.take() {
            if let Some(actual) = logging::tokens_used(ctx) {
                gw.store.limiter.reconcile(&r, actual).await;
            }
        }
    }
}
