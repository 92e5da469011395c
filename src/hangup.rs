//! SIGHUP, the reload signal. Pingora leaves it unhandled, and its default action ends the
//! process, so every service that reloads something listens for it itself (tokio delivers each
//! signal to every listener).

use pingora_core::server::ShutdownWatch;
use tokio::signal::unix::{signal, SignalKind};

/// Run `reload` on every SIGHUP until shutdown. `what` names the reload in the error logged when
/// the signal cannot be taken.
pub async fn on_every_hangup(mut shutdown: ShutdownWatch, what: &str, mut reload: impl FnMut()) {
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        log::error!("cannot listen for SIGHUP: {what} reloads only with an upgrade");
        return;
    };
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = hup.recv() => reload(),
        }
    }
}
