//! Stored Responses API answers: what `GET /v1/responses/{id}` returns and what
//! `previous_response_id` continues. Bounded in memory on one node; in Redis, with a TTL, when
//! nodes share a store. A stored response belongs to its team and keeps the sovereignty cap it
//! was served under, so a conversation that started sovereign is never continued above it.

use super::redis::RedisLink;
use crate::config::ResponsesSettings;
use crate::metrics;
use crate::tier::Tier;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One stored answer, with the conversation that led to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub team: String,
    pub cap: Tier,
    /// The response object as the client received it.
    pub response: Value,
    /// This request's input items (with ids).
    pub input: Vec<Value>,
    /// The items of the conversation before this request.
    pub context: Vec<Value>,
}

impl StoredResponse {
    /// The conversation a continuation starts from: everything before, this input, this output.
    pub fn conversation(&self) -> Vec<Value> {
        let output = self
            .response
            .get("output")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut all = Vec::with_capacity(self.context.len() + self.input.len() + output.len());
        all.extend(self.context.iter().cloned());
        all.extend(self.input.iter().cloned());
        all.extend(output);
        all
    }

    fn weight(&self) -> usize {
        // Serialized size is what the entry costs, within a small factor.
        serde_json::to_vec(self).map_or(0, |v| v.len())
    }
}

/// The store could not answer (Redis down): a continuation cannot be served now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

struct Entry {
    expires: Instant,
    weight: usize,
    value: Arc<StoredResponse>,
}

/// One node's responses, least recently used dropped first beyond the byte budget.
struct Memory {
    entries: lru::LruCache<String, Entry>,
    bytes: usize,
    max_bytes: usize,
}

impl Memory {
    fn put(&mut self, id: String, value: StoredResponse, ttl: Duration) {
        let weight = value.weight();
        if weight > self.max_bytes {
            return;
        }
        if let Some(old) = self.entries.put(
            id,
            Entry {
                expires: Instant::now() + ttl,
                weight,
                value: Arc::new(value),
            },
        ) {
            self.bytes -= old.weight;
        }
        self.bytes += weight;
        while self.bytes > self.max_bytes {
            match self.entries.pop_lru() {
                Some((_, e)) => self.bytes -= e.weight,
                None => break,
            }
        }
    }

    fn get(&mut self, id: &str) -> Option<Arc<StoredResponse>> {
        let expired = self.entries.peek(id)?.expires <= Instant::now();
        if expired {
            self.remove(id);
            return None;
        }
        self.entries.get(id).map(|e| e.value.clone())
    }

    fn remove(&mut self, id: &str) -> bool {
        match self.entries.pop(id) {
            Some(e) => {
                self.bytes -= e.weight;
                true
            }
            None => false,
        }
    }
}

enum Backend {
    Off,
    Memory(Mutex<Memory>),
    Redis(Arc<RedisLink>),
}

pub struct ResponseStore {
    backend: Backend,
    ttl: Duration,
}

impl ResponseStore {
    pub fn new(settings: &ResponsesSettings, redis: Option<Arc<RedisLink>>) -> Self {
        let backend = match (settings.store, redis) {
            (false, _) => Backend::Off,
            (true, Some(link)) => Backend::Redis(link),
            (true, None) => Backend::Memory(Mutex::new(Memory {
                entries: lru::LruCache::unbounded(),
                bytes: 0,
                max_bytes: settings.max_memory_bytes,
            })),
        };
        Self {
            backend,
            ttl: settings.ttl,
        }
    }

    /// Responses are kept at all (`[responses] store`).
    pub fn enabled(&self) -> bool {
        !matches!(self.backend, Backend::Off)
    }

    /// The stored response `id` if `team` may see it: another team's id is as good as absent.
    pub async fn get(&self, id: &str, team: &str) -> Result<Option<StoredResponse>, Unavailable> {
        let found = match &self.backend {
            Backend::Off => None,
            Backend::Memory(m) => m
                .lock()
                .expect("response store lock")
                .get(id)
                .map(|r| (*r).clone()),
            Backend::Redis(link) => match link.get_string(&link.response_key(id)).await {
                Ok(Some(text)) => serde_json::from_str(&text).ok(),
                Ok(None) => None,
                Err(()) => return Err(Unavailable),
            },
        };
        Ok(found.filter(|r| r.team == team))
    }

    pub async fn put(&self, id: &str, value: StoredResponse) {
        match &self.backend {
            Backend::Off => {}
            Backend::Memory(m) => {
                m.lock()
                    .expect("response store lock")
                    .put(id.to_string(), value, self.ttl);
                metrics::RESPONSES_STORED
                    .with_label_values(&["stored"])
                    .inc();
            }
            Backend::Redis(link) => {
                let text = serde_json::to_string(&value).expect("json serializes");
                let result = match link
                    .set_string_ex(&link.response_key(id), &text, self.ttl)
                    .await
                {
                    Ok(()) => "stored",
                    Err(()) => "failed",
                };
                metrics::RESPONSES_STORED.with_label_values(&[result]).inc();
            }
        }
    }

    /// Delete `id` if `team` owns it; whether it existed.
    pub async fn delete(&self, id: &str, team: &str) -> Result<bool, Unavailable> {
        if self.get(id, team).await?.is_none() {
            return Ok(false);
        }
        match &self.backend {
            Backend::Off => Ok(false),
            Backend::Memory(m) => Ok(m.lock().expect("response store lock").remove(id)),
            Backend::Redis(link) => link
                .delete(&link.response_key(id))
                .await
                .map_err(|()| Unavailable),
        }
    }
}

/// A Memory store that never expires within a test, for unit tests elsewhere.
#[cfg(test)]
pub fn memory_for_tests() -> ResponseStore {
    ResponseStore::new(
        &ResponsesSettings {
            store: true,
            ttl: Duration::from_secs(3600),
            max_memory_bytes: 1 << 20,
        },
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(team: &str, text: &str) -> StoredResponse {
        StoredResponse {
            team: team.into(),
            cap: Tier::Sovereign,
            response: json!({"id": "resp_1", "output": [{"type": "message", "content": text}]}),
            input: vec![json!({"type": "message", "role": "user", "content": "q"})],
            context: vec![json!({"type": "message", "role": "user", "content": "earlier"})],
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_response_belongs_to_its_team() {
        let s = memory_for_tests();
        block_on(async {
            s.put("resp_1", stored("a", "hi")).await;
            assert!(s.get("resp_1", "a").await.unwrap().is_some());
            assert!(s.get("resp_1", "b").await.unwrap().is_none());
            assert!(!s.delete("resp_1", "b").await.unwrap(), "not b's to delete");
            assert!(s.delete("resp_1", "a").await.unwrap());
            assert!(s.get("resp_1", "a").await.unwrap().is_none());
        });
    }

    #[test]
    fn the_conversation_is_context_then_input_then_output() {
        let c = stored("a", "answer").conversation();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0]["content"], "earlier");
        assert_eq!(c[1]["content"], "q");
        assert_eq!(c[2]["content"], "answer");
    }

    #[test]
    fn memory_stays_within_its_byte_budget_and_expires() {
        let settings = ResponsesSettings {
            store: true,
            ttl: Duration::from_millis(50),
            max_memory_bytes: 1 << 20,
        };
        let s = ResponseStore::new(&settings, None);
        let big = "x".repeat(300 << 10);
        block_on(async {
            for i in 0..5 {
                s.put(&format!("resp_{i}"), stored("a", &big)).await;
            }
            // Only the newest three fit in 1 MiB.
            assert!(s.get("resp_0", "a").await.unwrap().is_none());
            assert!(s.get("resp_4", "a").await.unwrap().is_some());
            tokio::time::sleep(Duration::from_millis(60)).await;
            assert!(s.get("resp_4", "a").await.unwrap().is_none(), "expired");
        });
        let off = ResponseStore::new(
            &ResponsesSettings {
                store: false,
                ..settings
            },
            None,
        );
        assert!(!off.enabled());
    }
}
