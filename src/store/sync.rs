//! Keeping a node's key snapshot current, as a Pingora background service (started after the
//! daemon fork, so its tasks survive it).
//!
//! File store: the file is checked every 200 ms (metadata, then content hash) and re-read on
//! SIGHUP; a revocation is live in well under a second. Redis store: the snapshot is reloaded on
//! every change announced on the pub/sub channel, and the version counter is polled every second
//! in case an announcement was missed. A reload that fails validation keeps the previous snapshot.

use super::Store;
use crate::hangup::Hangups;
use crate::keys::{file, sha256, KeyIndex};
use crate::metrics;
use async_trait::async_trait;
use futures_util::StreamExt;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub struct KeySync {
    pub store: Arc<Store>,
    pub source: Source,
}

pub enum Source {
    File(PathBuf),
    Redis,
}

#[async_trait]
impl BackgroundService for KeySync {
    async fn start(&self, shutdown: ShutdownWatch) {
        let hup = Hangups::listen("the key store");
        match &self.source {
            Source::File(path) => watch_file(&self.store, path, shutdown, hup).await,
            Source::Redis => follow_redis(&self.store, shutdown, hup).await,
        }
    }
}

/// What tells a changed file from an unchanged one without reading it.
fn fingerprint(path: &PathBuf) -> Option<(std::time::SystemTime, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// Wait until the file stops changing (an editor writing in place truncates first: reading
/// mid-write would see a short, possibly still valid, file and drop keys).
async fn settled(
    path: &PathBuf,
    mut seen: Option<(std::time::SystemTime, u64, u64)>,
) -> Option<(std::time::SystemTime, u64, u64)> {
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = fingerprint(path);
        if now == seen {
            break;
        }
        seen = now;
    }
    seen
}

fn reload_file(store: &Store, path: &PathBuf, last_hash: &mut [u8; 32], why: &str) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            metrics::KEYSTORE_RELOADS
                .with_label_values(&["error"])
                .inc();
            log::error!(
                "keys file {}: {e}; keeping the previous snapshot",
                path.display()
            );
            return;
        }
    };
    let hash = sha256(text.as_bytes());
    if hash == *last_hash {
        store.confirm();
        return;
    }
    match file::index(&text) {
        Ok(index) => {
            let n = index.len();
            store.replace(index);
            *last_hash = hash;
            metrics::KEYSTORE_RELOADS.with_label_values(&["ok"]).inc();
            log::info!("keys reloaded ({why}): {n} keys from {}", path.display());
        }
        Err(e) => {
            // Remember the bad content so it is reported once, not every 200 ms.
            *last_hash = hash;
            metrics::KEYSTORE_RELOADS
                .with_label_values(&["error"])
                .inc();
            log::error!(
                "keys file {}: {}: {}; keeping the previous snapshot",
                path.display(),
                e.field,
                e.message
            );
        }
    }
}

async fn watch_file(store: &Store, path: &PathBuf, mut shutdown: ShutdownWatch, mut hup: Hangups) {
    let mut last_hash = std::fs::read(path).map(|b| sha256(&b)).unwrap_or_default();
    let mut last_seen = fingerprint(path);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut rounds: u32 = 0;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = hup.next() => {
                // An explicit request: re-read even if nothing seems to have changed.
                last_hash = [0; 32];
                reload_file(store, path, &mut last_hash, "SIGHUP");
                last_seen = fingerprint(path);
            }
            _ = tick.tick() => {
                rounds = rounds.wrapping_add(1);
                let now = fingerprint(path);
                // Metadata catches every rename and most writes; the content hash every 5 s
                // catches an in-place edit that kept size and timestamp.
                if now != last_seen || rounds.is_multiple_of(25) {
                    last_seen = settled(path, now).await;
                    reload_file(store, path, &mut last_hash, "file changed");
                }
            }
        }
    }
}

async fn follow_redis(store: &Store, mut shutdown: ShutdownWatch, mut hup: Hangups) {
    let link = store.redis.clone().expect("redis store has a link");
    let mut last_version: Option<u64> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let setup = async {
            let conn = link.connect().await?;
            let mut pubsub = link.client().get_async_pubsub().await?;
            pubsub.subscribe(link.channel()).await?;
            Ok::<_, ::redis::RedisError>((conn, pubsub))
        };
        let (mut conn, pubsub) = match tokio::time::timeout(Duration::from_secs(2), setup).await {
            Ok(Ok(c)) => c,
            Ok(Err(_)) | Err(_) => {
                link.mark_down("connect");
                store.publish_age();
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                }
            }
        };
        // Subscribed before loading: a change made in between is announced, not lost.
        if reload_redis(store, &link, &mut conn, &mut last_version)
            .await
            .is_err()
        {
            link.mark_down("load");
            continue;
        }
        link.set_up(conn.clone());
        log::info!("redis store connected");
        let mut messages = pubsub.into_on_message();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let ok = tokio::select! {
                _ = shutdown.changed() => return,
                m = messages.next() => match m {
                    Some(_) => reload_redis(store, &link, &mut conn, &mut last_version).await.is_ok(),
                    None => false,
                },
                _ = hup.next() => {
                    last_version = None;
                    reload_redis(store, &link, &mut conn, &mut last_version).await.is_ok()
                }
                _ = tick.tick() => match link.version(&mut conn).await {
                    Ok(v) if Some(v) != last_version => {
                        reload_redis(store, &link, &mut conn, &mut last_version).await.is_ok()
                    }
                    Ok(_) => {
                        store.confirm();
                        if !link.is_up() {
                            // The request path gave up on a slow call; Redis answers again.
                            link.set_up(conn.clone());
                        }
                        true
                    }
                    Err(_) => false,
                },
            };
            if !ok {
                break;
            }
        }
        link.mark_down("subscription");
    }
}

async fn reload_redis(
    store: &Store,
    link: &super::redis::RedisLink,
    conn: &mut ::redis::aio::MultiplexedConnection,
    last_version: &mut Option<u64>,
) -> Result<(), ()> {
    let (version, stored, bad) = link.load_keys(conn).await.map_err(|e| {
        log::warn!("redis: cannot load keys: {e}");
    })?;
    if !bad.is_empty() {
        metrics::KEYSTORE_RELOADS
            .with_label_values(&["error"])
            .inc();
        log::error!(
            "redis keys that do not parse: {}; keeping the previous snapshot",
            bad.join("; ")
        );
        *last_version = Some(version);
        return Ok(());
    }
    if stored.is_empty() && !store.keys().is_empty() {
        // A Redis that lost its data must not wipe every node's keys (or their revocations).
        log::error!(
            "redis holds no keys but this node knows {}: keeping the snapshot; re-import the keys",
            store.keys().len()
        );
        *last_version = Some(version);
        store.confirm();
        return Ok(());
    }
    match KeyIndex::from_stored(&stored, "redis keys") {
        Ok(index) => {
            if *last_version != Some(version) {
                log::info!(
                    "keys reloaded from redis: {} keys (version {version})",
                    index.len()
                );
            }
            store.replace(index);
            metrics::KEYSTORE_RELOADS.with_label_values(&["ok"]).inc();
        }
        Err(e) => {
            metrics::KEYSTORE_RELOADS
                .with_label_values(&["error"])
                .inc();
            log::error!(
                "redis keys: {}: {}; keeping the previous snapshot",
                e.field,
                e.message
            );
        }
    }
    *last_version = Some(version);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_being_written_is_read_only_once_it_settles() {
        let dir = std::env::temp_dir().join(format!("stav-settle-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.toml");
        std::fs::write(&path, "x").unwrap();
        let first = fingerprint(&path);
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                for i in 0..30 {
                    std::fs::write(&path, "y".repeat(i + 2)).unwrap();
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        let start = std::time::Instant::now();
        let seen = settled(&path, first).await;
        writer.join().unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(300),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(seen, fingerprint(&path));
        assert_eq!(std::fs::read(&path).unwrap().len(), 31);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
