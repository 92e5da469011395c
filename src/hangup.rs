//! SIGHUP, the reload signal. Pingora leaves it unhandled, and its default action ends the
//! process, so every service that reloads something listens for it itself (tokio delivers each
//! signal to every listener).

use pingora_core::server::ShutdownWatch;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// A SIGHUP listener; if the signal cannot be taken, it waits forever (and says so once).
pub struct Hangups(Option<Signal>);

impl Hangups {
    /// `what` names the reload in the error logged when the signal cannot be taken.
    pub fn listen(what: &str) -> Self {
        match signal(SignalKind::hangup()) {
            Ok(s) => Self(Some(s)),
            Err(e) => {
                log::error!("cannot listen for SIGHUP ({e}): {what} reloads only with an upgrade");
                Self(None)
            }
        }
    }

    pub async fn next(&mut self) {
        match &mut self.0 {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
}

/// Run `reload` on every SIGHUP until shutdown.
pub async fn on_every_hangup(mut shutdown: ShutdownWatch, what: &str, mut reload: impl FnMut()) {
    let mut hup = Hangups::listen(what);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = hup.next() => reload(),
        }
    }
}
