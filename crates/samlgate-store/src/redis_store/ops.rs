//! The store's Redis operations, each one call with a deadline: admit (one
//! script), revoke (two scripts sent together), ping.

use std::sync::Arc;

use redis::Value;

use super::conn::{Redis, Script};
use crate::keys::{replay_digest, session_index_digest, KeySpace};
use crate::observer::{Clock, Op};
use crate::revocation::Record;
use crate::{Admission, AssertionAdmission, StoreError, StoreInfo, MAX_TTL_MS, MIN_TTL_MS};

/// Stream entries older than this are trimmed (a node away longer resyncs
/// from the revocation set instead of resuming).
pub(crate) const FEED_RETENTION_MS: i64 = 3_600_000;
/// Bound on the stream's length, whatever the rate of revocations.
pub(crate) const FEED_MAX_LEN: u64 = 100_000;

/// The Redis side of the store, without failure policy.
pub(crate) struct Remote {
    pub(crate) redis: Redis,
    pub(crate) keys: KeySpace,
    pub(crate) clock: Arc<dyn Clock>,
    admit: Script,
    revoke: Script,
    feed: Script,
}

impl Remote {
    pub(crate) fn new(redis: Redis, keys: KeySpace, clock: Arc<dyn Clock>) -> Self {
        Remote {
            redis,
            keys,
            clock,
            admit: Script::new(include_str!("lua/admit.lua")),
            revoke: Script::new(include_str!("lua/revoke.lua")),
            feed: Script::new(include_str!("lua/feed.lua")),
        }
    }

    /// One EVALSHA: tombstone check and replay record, atomically.
    pub(crate) async fn admit(&self, a: &AssertionAdmission<'_>) -> Result<Admission, StoreError> {
        let rp = self
            .keys
            .replay(&a.subject, &replay_digest(a.issuer, a.assertion_id));
        let nb = self.keys.not_before(&a.subject);
        let si = a.session_index.map(|s| {
            self.keys
                .session_index(&a.subject, &session_index_digest(s))
        });
        // TTL relative to this node's clock (PX, not PXAT: a Redis clock
        // running ahead cannot shorten it), never below the floor.
        let ttl = a
            .expires_ms
            .saturating_sub(self.clock.now_ms())
            .clamp(MIN_TTL_MS, MAX_TTL_MS)
            .to_string();
        let token = a.token.to_b64url();
        let issued = a.issue_instant_ms.to_string();
        let mut keys = vec![rp.as_str(), nb.as_str()];
        if let Some(si) = &si {
            keys.push(si);
        }
        let args = [token.as_str(), ttl.as_str(), issued.as_str()];
        match self
            .redis
            .eval(Op::Admit, &self.admit, &keys, &args)
            .await?
        {
            Value::Int(0) => Ok(Admission::Fresh),
            Value::Int(1) => Ok(Admission::Replayed),
            Value::Int(2) => Ok(Admission::LoggedOut),
            other => Err(StoreError::Reply(format!(
                "admit script returned {other:?}"
            ))),
        }
    }

    /// The subject-slot key and the feed event, sent together (one round
    /// trip on a standalone server). Both scripts are idempotent, so a
    /// failed revocation is simply sent again later.
    pub(crate) async fn revoke(&self, op: Op, r: &Record) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let ttl = r
            .expires_ms
            .saturating_sub(now)
            .clamp(MIN_TTL_MS, MAX_TTL_MS)
            .to_string();
        let (key, value) = r.key_and_value(&self.keys);
        let value = value.to_string();
        let record = r.encode();
        let expires = r.expires_ms.to_string();
        let now_s = now.to_string();
        let min_id = now.saturating_sub(FEED_RETENTION_MS).max(0).to_string();
        let max_len = FEED_MAX_LEN.to_string();
        let (feed, set) = (self.keys.feed(), self.keys.revoked_set());
        let (key_keys, key_args) = ([key.as_str()], [value.as_str(), ttl.as_str()]);
        let feed_keys = [feed.as_str(), set.as_str()];
        let feed_args = [
            record.as_str(),
            expires.as_str(),
            now_s.as_str(),
            min_id.as_str(),
            max_len.as_str(),
        ];
        let write_key = self.redis.eval(op, &self.revoke, &key_keys, &key_args);
        let publish = self.redis.eval(op, &self.feed, &feed_keys, &feed_args);
        let (written, published) = tokio::join!(write_key, publish);
        written?;
        published?;
        Ok(())
    }

    /// Server version and `maxmemory-policy` of every master, with a
    /// warning for any policy that may evict keys with a TTL.
    pub(crate) async fn ping(&self) -> Result<StoreInfo, StoreError> {
        let mut info = redis::cmd("INFO");
        info.arg("server");
        let infos = self.redis.on_every_master(info).await?;
        let mut version = None;
        for i in &infos {
            match i {
                Ok(v) => {
                    let text = text_of(v).unwrap_or_default();
                    version = version.or_else(|| info_field(&text, "redis_version"));
                }
                Err(e) => return Err(StoreError::Reply(format!("INFO refused: {e}"))),
            }
        }
        let mut get = redis::cmd("CONFIG");
        get.arg("GET").arg("maxmemory-policy");
        let policies = self.redis.on_every_master(get).await?;
        let mut warnings = Vec::new();
        let mut policy: Option<String> = None;
        for p in policies {
            match p.ok().as_ref().and_then(config_value) {
                Some(v) => {
                    if v != "noeviction" {
                        warnings.push(format!(
                            "maxmemory-policy is {v}: Redis may evict replay records and revocations when memory is full; set noeviction"
                        ));
                    }
                    policy.get_or_insert(v);
                }
                None => warnings.push(
                    "maxmemory-policy unknown (CONFIG GET refused, e.g. by an ACL): make sure it is noeviction".into(),
                ),
            }
        }
        warnings.dedup();
        Ok(StoreInfo {
            backend: if self.redis.cluster {
                "redis-cluster"
            } else {
                "redis"
            },
            server_version: version,
            maxmemory_policy: policy,
            nodes: infos.len(),
            warnings,
        })
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

fn info_field(info: &str, name: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

/// The value of a one-parameter CONFIG GET reply (RESP2 array or RESP3 map).
fn config_value(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) => items.get(1).and_then(text_of),
        Value::Map(pairs) => pairs.first().and_then(|(_, v)| text_of(v)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_info_and_config_replies() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n";
        assert_eq!(info_field(info, "redis_version").as_deref(), Some("7.0.15"));
        assert_eq!(info_field(info, "redis_mode"), None);
        let resp2 = Value::Array(vec![
            Value::BulkString(b"maxmemory-policy".to_vec()),
            Value::BulkString(b"noeviction".to_vec()),
        ]);
        assert_eq!(config_value(&resp2).as_deref(), Some("noeviction"));
        assert_eq!(config_value(&Value::Array(vec![])), None);
        assert_eq!(config_value(&Value::Nil), None);
    }
}
