//! Assembling the Pingora server from a validated configuration.

use crate::admin::Admin;
use crate::config::{Config, ConfigError, StoreKind};
use crate::demo::DemoUpstream;
use crate::listener::{GuardedApp, Limits};
use crate::proxy::{Edge, Gateway};
use crate::store::sync::{KeySync, Source};
use crate::store::Store;
use crate::tls::{CertReload, CertStore};
use crate::upstream::Upstream;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora_core::listeners::tls::TlsSettings;
use pingora_core::listeners::ListenerConfig;
use pingora_core::protocols::l4::stream::L4BufferSettings;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::background_service;
use pingora_core::services::background::BackgroundService;
use pingora_core::services::listening::Service;
use std::path::PathBuf;
use std::sync::Arc;

/// Process-level switches that Pingora handles (zero-downtime upgrade, daemon mode).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunMode {
    pub upgrade: bool,
    pub daemon: bool,
}

fn server_conf(cfg: &Config, mode: RunMode) -> ServerConf {
    let mut conf = ServerConf {
        threads: cfg.server.threads,
        grace_period_seconds: Some(cfg.server.grace_period_seconds),
        graceful_shutdown_timeout_seconds: Some(cfg.server.graceful_shutdown_timeout_seconds),
        daemon: mode.daemon,
        ..ServerConf::default()
    };
    if let Some(s) = &cfg.server.upgrade_sock {
        conf.upgrade_sock = s.clone();
    }
    if let Some(p) = &cfg.server.pid_file {
        conf.pid_file = p.clone();
    }
    conf
}

/// Resolve every provider up front: a bad host fails the start, not a request.
pub fn resolve_upstreams(cfg: &Config) -> Result<Vec<Upstream>, ConfigError> {
    cfg.providers
        .iter()
        .enumerate()
        .map(|(i, p)| Upstream::resolve(p, i))
        .collect()
}

pub fn build(mut cfg: Config, mode: RunMode) -> Result<Server, ConfigError> {
    let mut keys = std::mem::take(&mut cfg.keys);
    let upstreams = resolve_upstreams(&cfg)?;
    crate::metrics::init();
    crate::access_log::init(cfg.server.access_log.clone())
        .map_err(|e| ConfigError::new("server.access_log", e.to_string()))?;
    if crate::telemetry::init(&cfg.telemetry)
        .map_err(|e| ConfigError::new("telemetry.otlp_endpoint", e.to_string()))?
    {
        log::info!(
            "exporting traces to {:?}",
            cfg.telemetry.otlp.as_ref().map(|o| &o.traces_url)
        );
    }
    let opt = Opt {
        upgrade: mode.upgrade,
        daemon: mode.daemon,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, server_conf(&cfg, mode));
    server.bootstrap();

    let cfg = Arc::new(cfg);
    if let Some(demo) = &cfg.demo {
        let app = DemoUpstream {
            token_delay: demo.token_delay,
            max_body: cfg.server.max_body_bytes,
            chunks: None,
        };
        let mut svc = Service::new("stav demo upstream".to_string(), app);
        svc.add_tcp(&demo.listen.to_string());
        server.add_service(svc);
    }

    let mut admin = Service::new("stav admin".to_string(), Admin);
    admin.add_tcp(&cfg.server.admin_listen);
    server.add_service(admin);

    let store = Arc::new(
        Store::new(&cfg.store, &cfg.responses, std::mem::take(&mut keys))
            .map_err(|e| ConfigError::new("store.url", e))?,
    );
    let source = match &cfg.store.kind {
        StoreKind::File { path } => Source::File(path.clone()),
        StoreKind::Redis { .. } => Source::Redis,
    };
    server.add_service(background_service(
        "stav key sync",
        KeySync {
            store: store.clone(),
            source,
        },
    ));

    let listen = cfg.server.listen.clone();
    let tls_paths = cfg.server.tls.clone();
    let tls = tls_paths
        .as_ref()
        .map(|(c, k)| CertStore::load(c.clone(), k.clone()).map(Arc::new))
        .transpose()
        .map_err(|e| ConfigError::new("server.tls_cert", e))?;
    let ledger = crate::ledger::service::start(&mut server, &cfg, &store)?;
    let live = Arc::new(ArcSwap::from_pointee(
        Gateway::new(cfg.clone(), upstreams, store).with_ledger(ledger),
    ));
    server.add_service(background_service(
        "stav config reload",
        ConfigReload {
            live: live.clone(),
            // Absolute: a daemon does not keep the working directory it was started in.
            path: std::fs::canonicalize(&cfg.path).unwrap_or_else(|_| cfg.path.clone()),
        },
    ));
    // Pingora's proxy behind a guard that bounds how long a request's header may take and how
    // many connections may be waiting for one (`listener`).
    let app = GuardedApp {
        inner: Arc::new(pingora_proxy::http_proxy(
            &server.configuration,
            Edge { live },
        )),
        limits: Limits::new(
            cfg.server.header_read_timeout,
            cfg.server.max_pending_headers,
        ),
    };
    let mut proxy = Service::new("stav gateway".to_string(), app);
    let buffers = L4BufferSettings::default().read(cfg.server.read_buffer_bytes);
    match &tls {
        None => proxy.add_listener(ListenerConfig::tcp(listen).l4_buffer(buffers)),
        Some(certs) => {
            let (cert, key) = tls_paths.expect("paths come with the certificate");
            let mut settings =
                TlsSettings::intermediate(&cert.to_string_lossy(), &key.to_string_lossy())
                    .map_err(|e| ConfigError::new("server.tls_cert", e.to_string()))?;
            settings.set_cert_resolver(certs.clone());
            settings.enable_h2();
            proxy.add_listener(ListenerConfig::tcp(listen).tls(settings).l4_buffer(buffers));
            server.add_service(background_service(
                "stav tls reload",
                CertReload(certs.clone()),
            ));
        }
    }
    server.add_service(proxy);
    Ok(server)
}

/// On SIGHUP, read the configuration again and serve new requests under it (models, providers,
/// teams, routing, timeouts); requests in flight finish under the old one. A configuration that
/// does not validate, or that changes what only a restart can change (listeners, TLS files,
/// the key store), is refused and the running one stays. Use the upgrade (`-u`) for those.
pub struct ConfigReload {
    pub live: Arc<ArcSwap<Gateway>>,
    pub path: PathBuf,
}

impl ConfigReload {
    fn reload(&self) -> Result<Gateway, String> {
        let current = self.live.load_full();
        let cfg = Config::load(&self.path).map_err(|e| e.to_string())?;
        let (old, new) = (&current.cfg.server, &cfg.server);
        if old.listen != new.listen || old.admin_listen != new.admin_listen || old.tls != new.tls {
            return Err("listeners and TLS files change only with an upgrade (-u)".into());
        }
        if old.access_log != new.access_log {
            return Err("server.access_log changes only with an upgrade (-u)".into());
        }
        if cfg.store != current.cfg.store {
            return Err("[store] changes only with an upgrade (-u)".into());
        }
        if cfg.responses != current.cfg.responses {
            return Err("[responses] changes only with an upgrade (-u)".into());
        }
        if cfg.telemetry != current.cfg.telemetry {
            return Err("[telemetry] changes only with an upgrade (-u)".into());
        }
        if cfg.ledger != current.cfg.ledger {
            return Err("[ledger] changes only with an upgrade (-u)".into());
        }
        let upstreams = resolve_upstreams(&cfg).map_err(|e| e.to_string())?;
        let mut gw = Gateway::new(Arc::new(cfg), upstreams, current.store.clone())
            .with_ledger(current.ledger.clone());
        gw.started_unix = current.started_unix;
        Ok(gw)
    }
}

#[async_trait]
impl BackgroundService for ConfigReload {
    async fn start(&self, shutdown: ShutdownWatch) {
        crate::hangup::on_every_hangup(shutdown, "the configuration", || match self.reload() {
            Ok(gw) => {
                let models = gw.cfg.catalogue.len();
                self.live.store(Arc::new(gw));
                crate::metrics::CONFIG_RELOADS
                    .with_label_values(&["ok"])
                    .inc();
                log::info!(
                    "configuration reloaded from {} ({models} model entries)",
                    self.path.display()
                );
            }
            Err(e) => {
                crate::metrics::CONFIG_RELOADS
                    .with_label_values(&["error"])
                    .inc();
                log::error!("configuration not reloaded, keeping the running one: {e}");
            }
        })
        .await;
    }
}
