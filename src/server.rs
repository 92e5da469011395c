//! Assembling the Pingora server from a validated configuration.

use crate::admin::Admin;
use crate::config::{Config, ConfigError, StoreKind};
use crate::demo::DemoUpstream;
use crate::proxy::Gateway;
use crate::store::sync::{KeySync, Source};
use crate::store::Store;
use crate::tls::{CertReload, CertStore};
use crate::upstream::Upstream;
use pingora_core::listeners::tls::TlsSettings;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::services::background::background_service;
use pingora_core::services::listening::Service;
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
        Store::new(&cfg.store, std::mem::take(&mut keys))
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
    let mut proxy = pingora_proxy::http_proxy_service_with_name(
        &server.configuration,
        Gateway::new(cfg, upstreams, store),
        "stav gateway",
    );
    match &tls {
        None => proxy.add_tcp(&listen),
        Some(certs) => {
            let (cert, key) = tls_paths.expect("paths come with the certificate");
            let mut settings =
                TlsSettings::intermediate(&cert.to_string_lossy(), &key.to_string_lossy())
                    .map_err(|e| ConfigError::new("server.tls_cert", e.to_string()))?;
            settings.set_cert_resolver(certs.clone());
            settings.enable_h2();
            proxy.add_tls_with_settings(&listen, None, settings);
            server.add_service(background_service(
                "stav tls reload",
                CertReload(certs.clone()),
            ));
        }
    }
    server.add_service(proxy);
    Ok(server)
}
