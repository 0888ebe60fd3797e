//! The shared store: every check is one Lua script on Redis, which reads
//! Redis's own clock (`TIME`), so replicas agree on time, and decides every
//! key of the call at once, writing only when all allow.

use std::{sync::Mutex, time::Duration};

use redis::{AsyncConnectionConfig, Client, Script, aio::MultiplexedConnection};

use super::gcra::Quota;

/// [`super::gcra::decide_all`] on Redis. `KEYS` are the limits' keys;
/// `ARGV[2i-1]` and `ARGV[2i]` are key i's interval and horizon in
/// microseconds. Returns `{0, 0}` when allowed (every TAT written, each
/// key expiring at its TAT) or `{i, wait}`: limit `i` (from 1) makes the
/// call wait longest, `wait` microseconds.
const CHECK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tats = {}
local worst, wait = 0, 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local horizon = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local next = tat + interval
  local ahead = next - now
  if ahead > horizon then
    if ahead - horizon > wait then worst, wait = i, ahead - horizon end
  else
    tats[i] = next
  end
end
if worst > 0 then return {worst, wait} end
for i, key in ipairs(KEYS) do
  local ttl = math.max(math.ceil((tats[i] - now) / 1000), 1)
  redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', string.format('%.0f', ttl))
end
return {0, 0}
";

/// Why the shared store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis refused or broke the connection.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// A Redis connection that is made on first use and made again after an
/// error (the limiter decides when to try, see `super::Outage`).
pub struct Shared {
    client: Client,
    config: AsyncConnectionConfig,
    timeout: Duration,
    script: Script,
    connection: Mutex<Option<MultiplexedConnection>>,
    connecting: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// A store on `url` whose connects and answers are cut off at `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: Client::open(url)?,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout)),
            timeout,
            script: Script::new(CHECK),
            connection: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    /// The live connection, made now if there is none.
    async fn connection(&self) -> Result<MultiplexedConnection, StoreError> {
        if let Some(conn) = self.cached() {
            return Ok(conn);
        }
        // One connect at a time; those waiting take its result.
        let _connecting = self.connecting.lock().await;
        if let Some(conn) = self.cached() {
            return Ok(conn);
        }
        let conn = tokio::time::timeout(
            self.timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&self.config),
        )
        .await
        .map_err(|_| StoreError::Timeout(self.timeout))??;
        if let Ok(mut slot) = self.connection.lock() {
            *slot = Some(conn.clone());
        }
        Ok(conn)
    }

    fn cached(&self) -> Option<MultiplexedConnection> {
        self.connection.lock().ok().and_then(|c| c.clone())
    }

    fn forget(&self) {
        if let Ok(mut slot) = self.connection.lock() {
            *slot = None;
        }
    }

    /// Checks every `(key, quota)` at once: `Ok(None)` when allowed (and
    /// counted), `Ok(Some((index, wait_micros)))` when refused.
    pub async fn check(
        &self,
        keys: &[(String, Quota)],
    ) -> Result<Option<(usize, u64)>, StoreError> {
        let outcome = self.run(keys).await;
        if outcome.is_err() {
            // A fresh connection next time: this one may be broken.
            self.forget();
        }
        outcome
    }

    async fn run(&self, keys: &[(String, Quota)]) -> Result<Option<(usize, u64)>, StoreError> {
        let mut conn = self.connection().await?;
        let mut invocation = self.script.prepare_invoke();
        for (key, quota) in keys {
            invocation
                .key(key)
                .arg(quota.interval())
                .arg(quota.horizon());
        }
        let (index, wait): (usize, u64) =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut conn))
                .await
                .map_err(|_| StoreError::Timeout(self.timeout))??;
        Ok(match index {
            0 => None,
            i => Some((i - 1, wait)),
        })
    }
}
