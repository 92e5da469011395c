//! TLS at the edge: the certificate the public listener presents, swappable while running.
//!
//! rustls asks a resolver for the certificate at each handshake; ours hands out the current one
//! from an `ArcSwap`, so a reload (SIGHUP) changes what new connections see and leaves open ones
//! alone. A binary upgrade (`-u`) loads the files afresh anyway.

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use pingora_rustls::sign::CertifiedKey;
use pingora_rustls::{ClientHello, CryptoProvider, ResolvesServerCert};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug)]
pub struct CertStore {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    pingora_rustls::install_default_crypto_provider();
    let (certs, key_der) =
        pingora_rustls::load_certs_and_key_files(&cert.to_string_lossy(), &key.to_string_lossy())
            .map_err(|e| format!("{e}"))?
            .ok_or_else(|| format!("no private key in {}", key.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let provider = CryptoProvider::get_default().ok_or("no TLS crypto provider")?;
    let signing = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    let certified = CertifiedKey::new(certs, signing);
    certified
        .keys_match()
        .map_err(|e| format!("{} does not match {}: {e}", key.display(), cert.display()))?;
    Ok(certified)
}

impl CertStore {
    pub fn load(cert: PathBuf, key: PathBuf) -> Result<Self, String> {
        let current = ArcSwap::from_pointee(load(&cert, &key)?);
        Ok(Self { cert, key, current })
    }

    /// Read the files again; on any error keep serving the current certificate.
    pub fn reload(&self) -> Result<(), String> {
        self.current.store(Arc::new(load(&self.cert, &self.key)?));
        Ok(())
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Reloads the certificate on SIGHUP (the key store reloads on the same signal).
pub struct CertReload(pub Arc<CertStore>);

#[async_trait]
impl BackgroundService for CertReload {
    async fn start(&self, shutdown: ShutdownWatch) {
        crate::hangup::on_every_hangup(shutdown, "the TLS certificate", || match self.0.reload() {
            Ok(()) => log::info!("TLS certificate reloaded from {}", self.0.cert.display()),
            Err(e) => log::error!("TLS certificate not reloaded, keeping the current one: {e}"),
        })
        .await;
    }
}
