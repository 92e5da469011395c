//! The live shared state of a node: the key snapshot the request path reads, the rate limiter,
//! and (with Redis) the link to the store many nodes share. `sync` keeps the snapshot current.

pub mod redis;
pub mod responses;
pub mod sync;

use crate::config::{ResponsesSettings, StoreKind, StoreSettings};
use crate::keys::record::now_unix;
use crate::keys::KeyIndex;
use crate::limits::Limiter;
use crate::metrics;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub struct Store {
    keys: ArcSwap<KeyIndex>,
    pub limiter: Limiter,
    pub redis: Option<Arc<redis::RedisLink>>,
    /// Responses API answers kept for retrieval and continuation.
    pub responses: responses::ResponseStore,
    /// When the snapshot was last confirmed current with its source (unix seconds).
    confirmed_at: AtomicU64,
}

impl Store {
    pub fn new(
        settings: &StoreSettings,
        responses: &ResponsesSettings,
        initial: KeyIndex,
    ) -> Result<Self, String> {
        let link = match &settings.kind {
            StoreKind::File { .. } => None,
            StoreKind::Redis { url, prefix } => Some(Arc::new(redis::RedisLink::new(url, prefix)?)),
        };
        metrics::STORE_UP.set(i64::from(link.is_none()));
        let store = Self {
            keys: ArcSwap::from_pointee(KeyIndex::default()),
            limiter: Limiter::new(link.clone(), settings.nodes),
            responses: responses::ResponseStore::new(responses, link.clone()),
            redis: link,
            confirmed_at: AtomicU64::new(now_unix()),
        };
        store.replace(initial);
        Ok(store)
    }

    /// The current snapshot; cheap, wait-free, and stable for as long as the guard is held.
    pub fn keys(&self) -> arc_swap::Guard<Arc<KeyIndex>> {
        self.keys.load()
    }

    pub fn replace(&self, index: KeyIndex) {
        let now = now_unix();
        for state in ["active", "expiring", "expired", "revoked"] {
            let n = index.records().filter(|r| r.state(now) == state).count();
            metrics::KEYSTORE_KEYS
                .with_label_values(&[state])
                .set(n as i64);
        }
        self.keys.store(Arc::new(index));
        self.confirm();
    }

    pub fn confirm(&self) {
        self.confirmed_at.store(now_unix(), Ordering::Relaxed);
        metrics::KEYSTORE_SNAPSHOT_AGE.set(0);
    }

    pub fn publish_age(&self) {
        let age = now_unix().saturating_sub(self.confirmed_at.load(Ordering::Relaxed));
        metrics::KEYSTORE_SNAPSHOT_AGE.set(age as i64);
    }
}
