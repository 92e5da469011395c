//! Wiring the ledger into the server: the journal is opened at start (a directory that cannot be
//! written fails the start, naming `ledger.dir`), the writer, the shipper and the budget seeding
//! run as background services.

use super::seed::BudgetSeed;
use super::ship::Shipper;
use super::Ledger;
use crate::config::{Config, ConfigError};
use crate::store::Store;
use pingora_core::server::Server;
use pingora_core::services::background::background_service;
use std::sync::Arc;

pub fn start(
    server: &mut Server,
    cfg: &Config,
    store: &Arc<Store>,
) -> Result<Option<Arc<Ledger>>, ConfigError> {
    let Some(settings) = cfg.ledger.clone() else {
        return Ok(None);
    };
    let (ledger, writer) = Ledger::open(settings.clone())
        .map_err(|e| ConfigError::new("ledger.dir", e.to_string()))?;
    let start_seq = ledger.written_seq();
    server.add_service(background_service("stav ledger writer", writer));
    if let Some(url) = &settings.postgres_url {
        server.add_service(background_service(
            "stav ledger shipper",
            Shipper::new(settings.dir.clone(), url.clone(), ledger.written.clone()),
        ));
    }
    server.add_service(background_service(
        "stav budget seeding",
        BudgetSeed {
            settings,
            store: store.clone(),
            before_seq: start_seq,
            redis: matches!(cfg.store.kind, crate::config::StoreKind::Redis { .. }),
        },
    ));
    Ok(Some(ledger))
}
