//! Redis as the store many nodes share: key records (one hash), a version counter and a pub/sub
//! channel that announce changes, and the rate-limit buckets.
//!
//! Every call from the request path has a short timeout; a failure marks the link down, and the
//! request path then decides alone (local limits at `limit / nodes`, keys from the snapshot) until
//! the sync loop (`store::sync`) sees Redis answer again.

use crate::keys::record::StoredKey;
use crate::limits::window::{Verdict, WINDOW_MS};
use crate::limits::Bucket;
use crate::metrics;
use arc_swap::ArcSwapOption;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisResult, Script};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long the request path waits for Redis before deciding alone.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(250);

/// Admit only if every bucket has room, then count the request in all of them, atomically. The
/// clock is Redis's, so nodes with skewed clocks still share one window. Returns
/// `[admitted, window, now_ms, prev1, curr1, prev2, curr2, ...]` (counts before this request).
/// Per bucket: limit, cost, and the month index for a monthly budget (0 for a minute bucket):
/// a budget admits while anything is left of it and lives in `<bucket>:m<month>` for 40 days.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = tonumber(ARGV[1])
local win = math.floor(now / w)
local frac = (now % w) / w
local out = {0, win, now}
local ok = true
for i, k in ipairs(KEYS) do
  local limit = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local month = tonumber(ARGV[3 * i + 1])
  local prev, curr = 0, 0
  if month > 0 then
    curr = tonumber(redis.call('GET', k .. ':m' .. month) or '0')
    if curr >= limit then ok = false end
  else
    curr = tonumber(redis.call('GET', k .. ':' .. win) or '0')
    prev = tonumber(redis.call('GET', k .. ':' .. (win - 1)) or '0')
    if prev * (1 - frac) + curr + cost > limit then ok = false end
  end
  out[#out + 1] = prev
  out[#out + 1] = curr
end
if ok then
  out[1] = 1
  for i, k in ipairs(KEYS) do
    local month = tonumber(ARGV[3 * i + 1])
    local key = k .. ':' .. win
    local ttl = 2 * w + 5000
    if month > 0 then
      key = k .. ':m' .. month
      ttl = 40 * 86400 * 1000
    end
    redis.call('INCRBY', key, tonumber(ARGV[3 * i]))
    redis.call('PEXPIRE', key, ttl)
  end
end
return out
";

/// Raise a budget bucket to at least what the ledger counted (never lower: other nodes may
/// have counted more since).
const SEED: &str = r"
local curr = tonumber(redis.call('GET', KEYS[1]) or '0')
local want = tonumber(ARGV[1])
if want > curr then
  redis.call('SET', KEYS[1], want, 'PX', 40 * 86400 * 1000)
  return want
end
return curr
";

/// Correct a reservation in the window it was made in, if that window still exists.
const ADJUST: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return 0
";

/// Write one key record, bump the version and announce it. `ARGV[4] == 'new'` refuses to
/// overwrite an existing id; otherwise the record must still be `ARGV[5]` (compare and set, so
/// two admins cannot undo each other, e.g. a rotation resurrecting a concurrent revocation).
const PUT_KEY: &str = r"
local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[4] == 'new' then
  if current then return -1 end
elseif current ~= ARGV[5] then
  return -1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[3], ARGV[1])
return v
";

pub struct RedisLink {
    client: redis::Client,
    prefix: String,
    conn: ArcSwapOption<MultiplexedConnection>,
    up: AtomicBool,
    acquire: Script,
    adjust: Script,
    put: Script,
    seed: Script,
}

impl RedisLink {
    pub fn new(url: &str, prefix: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            prefix: prefix.to_string(),
            conn: ArcSwapOption::empty(),
            up: AtomicBool::new(false),
            acquire: Script::new(ACQUIRE),
            adjust: Script::new(ADJUST),
            put: Script::new(PUT_KEY),
            seed: Script::new(SEED),
        })
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    pub fn keys_hash(&self) -> String {
        format!("{}:keys", self.prefix)
    }

    pub fn version_key(&self) -> String {
        format!("{}:keys:version", self.prefix)
    }

    pub fn channel(&self) -> String {
        format!("{}:keys:changed", self.prefix)
    }

    pub fn response_key(&self, id: &str) -> String {
        format!("{}:resp:{id}", self.prefix)
    }

    /// GET; `Err` when Redis cannot answer now.
    pub async fn get_string(&self, key: &str) -> Result<Option<String>, ()> {
        let mut conn = self.live_conn().ok_or(())?;
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        let call = cmd.query_async::<Option<String>>(&mut conn);
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(v)) => Ok(v),
            _ => {
                self.mark_down("responses");
                Err(())
            }
        }
    }

    /// SET with an expiry.
    pub async fn set_string_ex(&self, key: &str, value: &str, ttl: Duration) -> Result<(), ()> {
        let mut conn = self.live_conn().ok_or(())?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(key)
            .arg(value)
            .arg("PX")
            .arg(ttl.as_millis() as u64);
        let call = cmd.query_async::<()>(&mut conn);
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(())) => Ok(()),
            _ => {
                self.mark_down("responses");
                Err(())
            }
        }
    }

    /// DEL; whether the key existed.
    pub async fn delete(&self, key: &str) -> Result<bool, ()> {
        let mut conn = self.live_conn().ok_or(())?;
        let mut cmd = redis::cmd("DEL");
        cmd.arg(key);
        let call = cmd.query_async::<u64>(&mut conn);
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(n)) => Ok(n > 0),
            _ => {
                self.mark_down("responses");
                Err(())
            }
        }
    }

    fn bucket_key(&self, name: &str) -> String {
        format!("{}:rl:{name}", self.prefix)
    }

    pub async fn connect(&self) -> RedisResult<MultiplexedConnection> {
        let cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(CALL_TIMEOUT));
        self.client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Called by the sync loop once Redis answered on a fresh connection.
    pub fn set_up(&self, conn: MultiplexedConnection) {
        self.conn.store(Some(Arc::new(conn)));
        self.up.store(true, Ordering::Release);
        metrics::STORE_UP.set(1);
        metrics::RATELIMIT_FALLBACK.set(0);
    }

    pub fn mark_down(&self, op: &'static str) {
        metrics::STORE_ERRORS.with_label_values(&[op]).inc();
        if self.up.swap(false, Ordering::AcqRel) {
            log::warn!("redis unreachable ({op}): rate limits fall back to the local share, keys to the snapshot");
        }
        metrics::STORE_UP.set(0);
        metrics::RATELIMIT_FALLBACK.set(1);
    }

    fn live_conn(&self) -> Option<MultiplexedConnection> {
        if !self.is_up() {
            return None;
        }
        self.conn.load_full().map(|c| (*c).clone())
    }

    /// The shared verdicts, or `None` when Redis cannot decide now.
    pub async fn acquire(&self, buckets: &[Bucket]) -> Option<(Vec<Verdict>, u64)> {
        let mut conn = self.live_conn()?;
        let mut inv = self.acquire.prepare_invoke();
        inv.arg(WINDOW_MS);
        for b in buckets {
            let month = match b.period {
                crate::limits::Period::Minute => 0,
                crate::limits::Period::Month(m) => m,
            };
            inv.key(self.bucket_key(&b.name))
                .arg(b.ask.limit)
                .arg(b.cost())
                .arg(month);
        }
        let out: Vec<u64> =
            match tokio::time::timeout(CALL_TIMEOUT, inv.invoke_async(&mut conn)).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    log::debug!("redis acquire: {e}");
                    self.mark_down("acquire");
                    return None;
                }
                Err(_) => {
                    self.mark_down("acquire");
                    return None;
                }
            };
        if out.len() != 3 + 2 * buckets.len() {
            self.mark_down("acquire");
            return None;
        }
        let (admitted, win, now) = (out[0] == 1, out[1], out[2]);
        let mut verdicts: Vec<Verdict> = buckets
            .iter()
            .enumerate()
            .map(|(i, b)| b.judge(out[3 + 2 * i], out[4 + 2 * i], now))
            .collect();
        // Redis's decision is the one that counted; make the verdicts agree with it even where
        // floating-point rounding could differ at the exact boundary.
        if admitted {
            for v in &mut verdicts {
                v.allowed = true;
                v.retry_after_ms = 0;
            }
        } else if verdicts.iter().all(|v| v.allowed) {
            if let Some(v) = verdicts.first_mut() {
                v.allowed = false;
                v.retry_after_ms = 1000;
            }
        }
        Some((verdicts, win))
    }

    fn window_key(&self, name: &str, period: crate::limits::Period, window: u64) -> String {
        match period {
            crate::limits::Period::Minute => format!("{}:{window}", self.bucket_key(name)),
            crate::limits::Period::Month(_) => format!("{}:m{window}", self.bucket_key(name)),
        }
    }

    /// Raise a month's budget bucket to `tokens` (see `SEED`).
    pub async fn seed(&self, name: &str, month: u64, tokens: u64) {
        let Some(mut conn) = self.live_conn() else {
            return;
        };
        let key = self.window_key(name, crate::limits::Period::Month(month), month);
        let mut inv = self.seed.key(key);
        inv.arg(tokens);
        let call = inv.invoke_async::<i64>(&mut conn);
        if !matches!(tokio::time::timeout(CALL_TIMEOUT, call).await, Ok(Ok(_))) {
            self.mark_down("reconcile");
        }
    }

    pub async fn adjust(&self, held: &crate::limits::Held, delta: i64) {
        let Some(mut conn) = self.live_conn() else {
            return;
        };
        let key = self.window_key(&held.name, held.period, held.window);
        let mut inv = self.adjust.key(key);
        inv.arg(delta);
        let call = inv.invoke_async::<i64>(&mut conn);
        if !matches!(tokio::time::timeout(CALL_TIMEOUT, call).await, Ok(Ok(_))) {
            self.mark_down("reconcile");
        }
    }

    /// The version and every stored record, read in one transaction.
    pub async fn load_keys(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> RedisResult<(u64, Vec<StoredKey>, Vec<String>)> {
        let (version, all): (Option<u64>, HashMap<String, String>) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(self.version_key())
            .cmd("HGETALL")
            .arg(self.keys_hash())
            .query_async(conn)
            .await?;
        let mut ids: Vec<&String> = all.keys().collect();
        ids.sort();
        let mut stored = Vec::with_capacity(ids.len());
        let mut bad = Vec::new();
        for id in ids {
            match serde_json::from_str::<StoredKey>(&all[id]) {
                Ok(s) => stored.push(s),
                Err(e) => bad.push(format!("{id}: {e}")),
            }
        }
        Ok((version.unwrap_or(0), stored, bad))
    }

    pub async fn version(&self, conn: &mut MultiplexedConnection) -> RedisResult<u64> {
        let v: Option<u64> = redis::cmd("GET")
            .arg(self.version_key())
            .query_async(conn)
            .await?;
        Ok(v.unwrap_or(0))
    }

    /// One stored record as its exact JSON (the compare-and-set token of `put_key`).
    pub async fn get_key(
        &self,
        conn: &mut MultiplexedConnection,
        id: &str,
    ) -> RedisResult<Option<String>> {
        redis::cmd("HGET")
            .arg(self.keys_hash())
            .arg(id)
            .query_async(conn)
            .await
    }

    /// Store a record and tell every node. `expected`: `None` creates (refused if the id exists),
    /// `Some(json)` replaces only if the stored record is still exactly `json`. `Ok(false)`:
    /// refused.
    pub async fn put_key(
        &self,
        conn: &mut MultiplexedConnection,
        record: &StoredKey,
        expected: Option<&str>,
    ) -> RedisResult<bool> {
        let json = serde_json::to_string(record).expect("records serialise");
        let v: i64 = self
            .put
            .key(self.keys_hash())
            .key(self.version_key())
            .arg(&record.id)
            .arg(json)
            .arg(self.channel())
            .arg(if expected.is_none() { "new" } else { "cas" })
            .arg(expected.unwrap_or(""))
            .invoke_async(conn)
            .await?;
        Ok(v >= 0)
    }
}
