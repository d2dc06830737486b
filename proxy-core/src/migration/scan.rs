//! The source side's copy loop (spec 3.2 step 4): move every key of the migrating ranges from
//! the source Redis to the destination Redis, in pipelined batches, keeping TTLs.
//!
//! Blocking, on its own thread and connections, so the copy never runs on a data-plane core.
//! Precondition (see `docs/migration.md`): the source proxy no longer sends writes for these
//! ranges to the source Redis (the task is past PRE_SWITCH), so a key copied here cannot be
//! changed on the source afterwards. The destination's import task ([`super::import`]) runs
//! it with the key locks its cores' on-demand pulls take.

use super::locks::{KeyGuard, KeyLocks};
use crate::slot::key_slot;
use control::client::resp::{Conn, Value};
use control::model::RangeList;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Batches between two pauses of `PACE_EVERY` x `scan_interval`.
const PACE_EVERY: u32 = 10;

/// Pacing and limits of one copy.
#[derive(Debug, Clone, Copy)]
pub struct ScanConfig {
    /// `COUNT` of each SCAN (`migration_scan_count`; 0 is read as 1).
    pub scan_count: u64,
    /// Pause after each batch (`migration_scan_interval`); zero does not pause.
    pub scan_interval: Duration,
    /// Connect/read/write timeout of each Redis connection.
    pub timeout: Duration,
}

/// What one copy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Keys restored on the destination and deleted on the source.
    pub moved: u64,
    /// Keys the destination already had (`BUSYKEY`: its copy is newer); deleted on the source.
    pub already_there: u64,
    /// Keys of the ranges that vanished between SCAN and DUMP (expired or deleted).
    pub gone: u64,
    /// Keys seen by SCAN outside the ranges, left alone.
    pub skipped: u64,
    /// Times a key of the ranges was set aside because a pull held its lock.
    pub busy: u64,
}

/// Copies every key of `ranges` from `src` to `dst` (both `host:port`), then deletes it on
/// `src`. Returns after one full SCAN (and the keys it had to set aside because a pull held
/// them), which leaves none of the ranges' keys on the source, or when `stop()` turns true
/// (checked between batches).
///
/// RESTORE never uses REPLACE: a key the destination already holds was pulled there on demand
/// and may have been written since, so its copy wins (`BUSYKEY`).
///
/// # Errors
/// Connection failure, an unexpected reply, or a RESTORE error other than BUSYKEY.
pub fn move_ranges(
    src: &str,
    dst: &str,
    ranges: &RangeList,
    cfg: &ScanConfig,
    locks: Option<&Arc<KeyLocks>>,
    stop: &dyn Fn() -> bool,
) -> io::Result<ScanStats> {
    let mut s = Conn::connect(src, cfg.timeout)?;
    let mut d = Conn::connect(dst, cfg.timeout)?;
    let count = cfg.scan_count.max(1).to_string();
    let mut stats = ScanStats::default();
    let mut cursor = b"0".to_vec();
    let mut busy_keys = Vec::new();
    let mut paced: u32 = 0;
    let mut pending: PendingDel = None;
    loop {
        let scan = vec![
            b"SCAN".to_vec(),
            cursor.clone(),
            b"COUNT".to_vec(),
            count.as_bytes().to_vec(),
        ];
        // why: the previous batch's DEL rides with this SCAN, one round trip fewer per batch.
        let reply = match pending.take() {
            Some((del, guards)) => {
                let mut r = s.pipeline(&[del, scan])?;
                let scan_r = r.pop().ok_or_else(|| io::Error::other("short reply"))?;
                check_del(r.pop().ok_or_else(|| io::Error::other("short reply"))?)?;
                drop(guards);
                scan_r
            }
            None => s.call(&scan)?,
        };
        let (next, keys) = scan_reply(reply)?;
        let (mut mine, others): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
            keys.into_iter().partition(|k| ranges.contains(key_slot(k)));
        // why: SCAN may return a key twice in one reply (while the dict rehashes); moving it
        // twice is harmless (BUSYKEY) but would count it twice.
        mine.sort_unstable();
        mine.dedup();
        stats.skipped += others.len() as u64;
        // why: a key a pull is moving right now is set aside; the pull deletes it on the
        // source, and if the pull failed it is still there when we come back for it.
        let guards = lock_all(locks, &mut mine, &mut busy_keys, &mut stats);
        let moved_any = !mine.is_empty();
        pending = move_batch(&mut s, &mut d, mine, &mut stats)?.map(|del| (del, guards));
        if stop() {
            flush(&mut s, &mut pending)?;
            return Ok(stats);
        }
        if next == b"0" {
            break;
        }
        cursor = next;
        // why: pacing is for the data moved; a batch with no key of the ranges costs one
        // SCAN reply, so it does not wait. The pause is taken every PACE_EVERY batches (as
        // the original does), so a sleep's fixed overshoot is paid once per group.
        if moved_any && !cfg.scan_interval.is_zero() {
            paced += 1;
            if paced.is_multiple_of(PACE_EVERY) {
                std::thread::sleep(cfg.scan_interval * PACE_EVERY);
            }
        }
    }
    flush(&mut s, &mut pending)?;
    // SCAN returned every key that was on the source from start to end (none can arrive
    // after PRE_SWITCH), so once the keys set aside are dealt with the copy is complete.
    while !busy_keys.is_empty() {
        if stop() {
            return Ok(stats);
        }
        std::thread::sleep(Duration::from_millis(1));
        let mut retry = std::mem::take(&mut busy_keys);
        let guards = lock_all(locks, &mut retry, &mut busy_keys, &mut stats);
        let mut p = move_batch(&mut s, &mut d, retry, &mut stats)?.map(|del| (del, guards));
        flush(&mut s, &mut p)?;
    }
    Ok(stats)
}

/// Locks what it can of `keys`, moving the others to `busy`.
fn lock_all(
    locks: Option<&Arc<KeyLocks>>,
    keys: &mut Vec<Vec<u8>>,
    busy: &mut Vec<Vec<u8>>,
    stats: &mut ScanStats,
) -> Vec<KeyGuard> {
    let Some(l) = locks else {
        return Vec::new();
    };
    let mut guards = Vec::with_capacity(keys.len());
    let mut free = Vec::with_capacity(keys.len());
    for k in keys.drain(..) {
        match l.try_lock(&k) {
            Some(g) => {
                guards.push(g);
                free.push(k);
            }
            None => {
                stats.busy += 1;
                busy.push(k);
            }
        }
    }
    *keys = free;
    guards
}

/// Copies `keys` (PTTL+DUMP on the source, RESTORE on the destination) and returns the
/// `DEL` the source still needs, for the caller to pipeline with its next SCAN; the keys'
/// locks must be held until that DEL has its reply.
fn move_batch(
    s: &mut Conn,
    d: &mut Conn,
    keys: Vec<Vec<u8>>,
    stats: &mut ScanStats,
) -> io::Result<Option<Vec<Vec<u8>>>> {
    if keys.is_empty() {
        return Ok(None);
    }
    let reads: Vec<Vec<&[u8]>> = keys
        .iter()
        .flat_map(|k| [vec![b"PTTL".as_slice(), k], vec![b"DUMP".as_slice(), k]])
        .collect();
    let replies = s.pipeline(&reads)?;
    let mut restores: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut pairs = replies.chunks_exact(2);
    for k in &keys {
        let Some([pttl, dump]) = pairs.next() else {
            return Err(io::Error::other("short PTTL/DUMP reply"));
        };
        match (pttl, dump) {
            (Value::Int(-2), _) | (_, Value::Nil) => stats.gone += 1,
            (Value::Int(ttl), Value::Bulk(payload)) => {
                // why: PTTL -1 is "no expiry" (RESTORE 0); PTTL 0 is "expiring now", which
                // RESTORE 0 would turn into "never expires".
                let ttl = match *ttl {
                    t if t < 0 => 0,
                    0 => 1,
                    t => t,
                };
                restores.push(vec![
                    b"RESTORE".to_vec(),
                    k.clone(),
                    ttl.to_string().into_bytes(),
                    payload.clone(),
                ]);
            }
            other => return Err(io::Error::other(format!("PTTL/DUMP reply {other:?}"))),
        }
    }
    if restores.is_empty() {
        return Ok(None);
    }
    let mut del: Vec<Vec<u8>> = vec![b"DEL".to_vec()];
    for (cmd, reply) in restores.iter().zip(d.pipeline(&restores)?) {
        match reply {
            Value::Simple(_) => stats.moved += 1,
            Value::Error(e) if e.starts_with("BUSYKEY") => stats.already_there += 1,
            other => return Err(io::Error::other(format!("RESTORE reply {other:?}"))),
        }
        if let Some(k) = cmd.get(1) {
            del.push(k.clone());
        }
    }
    Ok(Some(del))
}

fn check_del(reply: Value) -> io::Result<()> {
    match reply {
        Value::Int(_) => Ok(()),
        other => Err(io::Error::other(format!("DEL reply {other:?}"))),
    }
}

/// A batch copied but not yet deleted on the source, with the locks of its keys.
type PendingDel = Option<(Vec<Vec<u8>>, Vec<KeyGuard>)>;

/// Sends the pending DEL on its own.
fn flush(s: &mut Conn, pending: &mut PendingDel) -> io::Result<()> {
    if let Some((del, guards)) = pending.take() {
        check_del(s.call(&del)?)?;
        drop(guards);
    }
    Ok(())
}

/// `[cursor, [key...]]`.
fn scan_reply(v: Value) -> io::Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let bad = || io::Error::other("malformed SCAN reply");
    let Value::Array(mut parts) = v else {
        return Err(bad());
    };
    let (Some(Value::Array(keys)), Some(Value::Bulk(cursor))) = (parts.pop(), parts.pop()) else {
        return Err(bad());
    };
    let keys = keys
        .into_iter()
        .map(|k| match k {
            Value::Bulk(b) => Ok(b),
            _ => Err(bad()),
        })
        .collect::<io::Result<Vec<_>>>()?;
    Ok((cursor, keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_replies() {
        let ok = Value::Array(vec![
            Value::Bulk(b"17".to_vec()),
            Value::Array(vec![Value::Bulk(b"a".to_vec())]),
        ]);
        assert_eq!(
            scan_reply(ok).unwrap(),
            (b"17".to_vec(), vec![b"a".to_vec()])
        );
        assert!(scan_reply(Value::Error("ERR".into())).is_err());
        assert!(scan_reply(Value::Array(vec![Value::Bulk(b"0".to_vec())])).is_err());
    }
}
