//! The revocation feed: keeps this node's view current by reading the
//! Redis Stream from the last seen ID (`XREAD BLOCK`, short block so that
//! liveness is visible), resuming after a reconnect, and resyncing from the
//! revocation set on first start or when entries it had not read were
//! trimmed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::streams::StreamReadReply;
use redis::{ErrorKind as RK, ServerErrorKind, Value};

use super::conn::FeedConn;
use super::ops::{FEED_MAX_LEN, FEED_RETENTION_MS};
use super::RedisStore;
use crate::observer::Op;
use crate::revocation::Record;
use crate::StoreError;

/// A stream entry ID, `<ms>-<seq>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct EntryId(u64, u64);

impl EntryId {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (ms, seq) = text.split_once('-')?;
        Some(EntryId(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// Records read per XREAD and per ZSCAN step.
const BATCH: usize = 1000;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// What XINFO STREAM says about the stream (`None` when it does not exist).
struct StreamState {
    last_generated: EntryId,
    /// Redis ≥ 7.0: the largest ID removed by XDEL (trimming does not
    /// count here, hence `first_entry`).
    max_deleted: Option<EntryId>,
    first_entry: Option<EntryId>,
    length: u64,
}

/// Runs forever: connect, catch up (resync or resume), then read.
pub(crate) async fn run(store: Arc<RedisStore>) {
    let mut last: Option<EntryId> = None;
    let mut backoff = BACKOFF_MIN;
    let mut first = true;
    loop {
        if !first {
            store.observer.feed_reconnect();
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        first = false;
        let start = Instant::now();
        let mut conn = match store.remote.redis.feed_connection().await {
            Ok(c) => c,
            Err(e) => {
                store
                    .observer
                    .call(Op::Feed, start.elapsed(), Err(e.kind()));
                tracing::debug!(error = %e, "revocation feed: cannot connect");
                continue;
            }
        };
        match catch_up(&store, &mut conn, last).await {
            Ok(id) => last = Some(id),
            Err(e) => {
                tracing::warn!(error = %e, "revocation feed: catching up failed");
                continue;
            }
        }
        backoff = BACKOFF_MIN;
        // Read until the connection fails.
        loop {
            let from = last.unwrap_or_default();
            let start = Instant::now();
            match read(&store, &mut conn, from).await {
                Ok(next) => {
                    store.observer.call(Op::Feed, start.elapsed(), Ok(()));
                    last = Some(next);
                }
                Err(e) => {
                    store
                        .observer
                        .call(Op::Feed, start.elapsed(), Err(e.kind()));
                    tracing::warn!(error = %e, "revocation feed: read failed, reconnecting");
                    break;
                }
            }
        }
    }
}

/// Resuming is refused when `last` is this close to being trimmed by age:
/// the entries after it could be trimmed between the check and the read.
const RESUME_MARGIN_MS: i64 = 600_000;

/// After (re)connecting: resync when there is nothing to resume from or
/// entries after `last` may be gone; otherwise resume from `last`.
async fn catch_up(
    store: &RedisStore,
    conn: &mut FeedConn,
    last: Option<EntryId>,
) -> Result<EntryId, StoreError> {
    if let Some(last) = last {
        let state = stream_state(store, conn).await?;
        let oldest_safe = store.remote.clock.now_ms() - (FEED_RETENTION_MS - RESUME_MARGIN_MS);
        if can_resume(state.as_ref(), last, oldest_safe) {
            return Ok(last);
        }
    }
    resync(store, conn).await
}

/// True when every entry after `last` is still in the stream. Trimming
/// removes the oldest entries, so this holds when the oldest remaining
/// entry is at or before `last` (or, in an empty stream, nothing was added
/// after `last`), nothing after `last` was deleted, and `last` is neither
/// near the age limit nor deep in a long stream (so no trim can reach it
/// before the next read).
fn can_resume(state: Option<&StreamState>, last: EntryId, oldest_safe_ms: i64) -> bool {
    let Some(s) = state else {
        // Never written, or deleted with everything (a Redis restarted
        // without persistence): nothing was missed only if nothing was read.
        return last == EntryId::default();
    };
    let young = i64::try_from(last.0).is_ok_and(|ms| ms >= oldest_safe_ms);
    let prefix_kept = match s.first_entry {
        Some(first) => first <= last,
        None => s.last_generated == last,
    };
    s.last_generated >= last
        && s.max_deleted.is_none_or(|d| d <= last)
        && prefix_kept
        && young
        && s.length <= FEED_MAX_LEN / 2
}

/// Rebuilds the view from the revocation set. The stream position is read
/// first: anything published after it is read again from the stream
/// (harmless, records are idempotent), so nothing falls between the two.
async fn resync(store: &RedisStore, conn: &mut FeedConn) -> Result<EntryId, StoreError> {
    let start = Instant::now();
    let result = async {
        let from = stream_state(store, conn)
            .await?
            .map(|s| s.last_generated)
            .unwrap_or_default();
        let now = store.remote.clock.now_ms();
        let set = store.remote.keys.revoked_set();
        let mut cursor = String::from("0");
        let mut records = Vec::new();
        loop {
            let mut cmd = redis::cmd("ZSCAN");
            cmd.arg(&set).arg(&cursor).arg("COUNT").arg(BATCH);
            let reply = timed(store, conn.query(&cmd)).await?;
            let (next, members) = parse_scan(reply)?;
            records.extend(
                members
                    .iter()
                    .filter_map(|m| decode(m))
                    .filter(|r| r.expires_ms > now),
            );
            if next == "0" {
                break;
            }
            cursor = next;
        }
        store.view.apply_all(&records);
        Ok(from)
    }
    .await;
    store.observer.call(
        Op::Resync,
        start.elapsed(),
        result.as_ref().map(|_| ()).map_err(StoreError::kind),
    );
    if result.is_ok() {
        store.view.mark_synced();
        store.view.mark_feed_ok();
        store.observer.resync();
        store.observer.view_entries(store.view.len());
    }
    result
}

/// One blocking read from `from`; applies what came and returns the new
/// position.
async fn read(
    store: &RedisStore,
    conn: &mut FeedConn,
    from: EntryId,
) -> Result<EntryId, StoreError> {
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT")
        .arg(BATCH)
        .arg("BLOCK")
        .arg(u64::try_from(store.feed_block.as_millis()).unwrap_or(1000))
        .arg("STREAMS")
        .arg(store.remote.keys.feed())
        .arg(from.to_string());
    let reply = timed(store, conn.query(&cmd)).await?;
    let parsed: Option<StreamReadReply> =
        redis::from_redis_value(reply).map_err(|e| StoreError::Reply(format!("XREAD: {e}")))?;
    let mut last = from;
    let mut records = Vec::new();
    for entry in parsed.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
        let id = EntryId::parse(&entry.id)
            .ok_or_else(|| StoreError::Reply("XREAD: bad entry ID".into()))?;
        last = last.max(id);
        match entry
            .map
            .get("r")
            .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
        {
            Some(text) => records.extend(decode(&text)),
            None => tracing::warn!(id = %id, "revocation feed: entry without a record"),
        }
    }
    if !records.is_empty() {
        store.view.apply_all(&records);
        store.observer.view_entries(store.view.len());
    }
    // The read answered: every revocation published before now is applied.
    store.view.mark_feed_ok();
    Ok(last)
}

fn decode(text: &str) -> Option<Record> {
    let r = Record::decode(text);
    if r.is_none() {
        tracing::warn!(
            len = text.len(),
            "revocation feed: unreadable record skipped"
        );
    }
    r
}

async fn timed<F>(store: &RedisStore, fut: F) -> Result<Value, StoreError>
where
    F: std::future::Future<Output = redis::RedisResult<Value>>,
{
    let limit = store.remote.redis.feed_timeout();
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(StoreError::from),
        Err(_) => Err(StoreError::Timeout(limit)),
    }
}

async fn stream_state(
    store: &RedisStore,
    conn: &mut FeedConn,
) -> Result<Option<StreamState>, StoreError> {
    let mut cmd = redis::cmd("XINFO");
    cmd.arg("STREAM").arg(store.remote.keys.feed());
    let limit = store.remote.redis.feed_timeout();
    let reply = match tokio::time::timeout(limit, conn.query(&cmd)).await {
        Err(_) => return Err(StoreError::Timeout(limit)),
        Ok(Err(e))
            if e.kind() == RK::Server(ServerErrorKind::ResponseError)
                && e.detail().is_some_and(|d| d.contains("no such key")) =>
        {
            return Ok(None)
        }
        Ok(r) => r?,
    };
    let fields = pairs(&reply);
    let id = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| redis::from_redis_value_ref::<String>(v).ok())
            .and_then(|s| EntryId::parse(&s))
    };
    let last_generated = id("last-generated-id")
        .ok_or_else(|| StoreError::Reply("XINFO: no last-generated-id".into()))?;
    let first_entry = fields
        .iter()
        .find(|(k, _)| k == "first-entry")
        .and_then(|(_, v)| match v {
            Value::Array(e) => e
                .first()
                .and_then(|i| redis::from_redis_value_ref::<String>(i).ok())
                .and_then(|s| EntryId::parse(&s)),
            _ => None,
        });
    let length = fields
        .iter()
        .find(|(k, _)| k == "length")
        .and_then(|(_, v)| redis::from_redis_value_ref::<u64>(v).ok())
        .ok_or_else(|| StoreError::Reply("XINFO: no length".into()))?;
    Ok(Some(StreamState {
        last_generated,
        max_deleted: id("max-deleted-entry-id"),
        first_entry,
        length,
    }))
}

/// Key/value pairs of a RESP2 flat array or a RESP3 map.
fn pairs(v: &Value) -> Vec<(String, &Value)> {
    match v {
        Value::Map(m) => m
            .iter()
            .filter_map(|(k, v)| Some((redis::from_redis_value_ref::<String>(k).ok()?, v)))
            .collect(),
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|kv| match kv {
                [k, v] => Some((redis::from_redis_value_ref::<String>(k).ok()?, v)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// ZSCAN's reply: next cursor and members (scores, interleaved, dropped).
fn parse_scan(v: Value) -> Result<(String, Vec<String>), StoreError> {
    let (cursor, items): (String, Vec<String>) =
        redis::from_redis_value(v).map_err(|e| StoreError::Reply(format!("ZSCAN: {e}")))?;
    Ok((cursor, items.into_iter().step_by(2).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_parse_and_order() {
        assert_eq!(EntryId::parse("5-1"), Some(EntryId(5, 1)));
        assert!(EntryId::parse("5-1").unwrap() < EntryId::parse("5-2").unwrap());
        assert!(EntryId::parse("4-9").unwrap() < EntryId::parse("5-0").unwrap());
        for bad in ["", "5", "a-1", "1-", "-1-2", "1-2-3"] {
            assert_eq!(EntryId::parse(bad), None, "{bad}");
        }
        assert_eq!(EntryId(7, 0).to_string(), "7-0");
    }

    #[test]
    fn resumes_only_when_nothing_after_last_can_be_gone() {
        let last = EntryId(1_000_000, 0);
        let state =
            |first: Option<EntryId>, gen: EntryId, deleted: Option<EntryId>, length| StreamState {
                last_generated: gen,
                max_deleted: deleted,
                first_entry: first,
                length,
            };
        let ok = state(
            Some(EntryId(900_000, 0)),
            EntryId(1_000_500, 0),
            Some(EntryId(0, 0)),
            10,
        );
        assert!(can_resume(Some(&ok), last, 0));
        // Our last entry is near the age limit: a trim may reach it.
        assert!(!can_resume(Some(&ok), last, 1_000_001));
        // Trimmed past our position.
        let trimmed = state(Some(EntryId(1_000_100, 0)), EntryId(1_000_500, 0), None, 3);
        assert!(!can_resume(Some(&trimmed), last, 0));
        // Emptied after entries we never read.
        let emptied = state(None, EntryId(1_000_500, 0), Some(EntryId(0, 0)), 0);
        assert!(!can_resume(Some(&emptied), last, 0));
        let idle = state(None, last, None, 0);
        assert!(can_resume(Some(&idle), last, 0));
        // An entry after ours was deleted.
        let deleted = state(
            Some(EntryId(1, 0)),
            EntryId(1_000_500, 0),
            Some(EntryId(1_000_200, 0)),
            9,
        );
        assert!(!can_resume(Some(&deleted), last, 0));
        // The stream went backwards (restored from an older snapshot).
        let older = state(Some(EntryId(1, 0)), EntryId(999_999, 0), None, 9);
        assert!(!can_resume(Some(&older), last, 0));
        // Long streams, or a stream gone: resync.
        let long = state(
            Some(EntryId(1, 0)),
            EntryId(1_000_500, 0),
            None,
            FEED_MAX_LEN,
        );
        assert!(!can_resume(Some(&long), last, 0));
        assert!(!can_resume(None, last, 0));
        assert!(can_resume(None, EntryId::default(), 0));
    }

    #[test]
    fn scan_replies_keep_members_only() {
        let reply = Value::Array(vec![
            Value::BulkString(b"17".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"m1".to_vec()),
                Value::BulkString(b"100".to_vec()),
                Value::BulkString(b"m2".to_vec()),
                Value::BulkString(b"200".to_vec()),
            ]),
        ]);
        assert_eq!(
            parse_scan(reply).unwrap(),
            ("17".into(), vec!["m1".into(), "m2".into()])
        );
        assert!(parse_scan(Value::Nil).is_err());
    }
}
