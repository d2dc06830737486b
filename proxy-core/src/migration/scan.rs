//! The copy loop (spec 3.2 step 4, run by our destination): move every key of the migrating
//! ranges from the source Redis to the destination Redis in batches: `SCAN` on the source,
//! keys of the ranges kept, one `MIGRATE ... KEYS` per batch (the source Redis sends the
//! keys with their TTLs straight to the destination Redis and deletes them, as `redis-cli
//! --cluster reshard` does), pipelined with the next `SCAN`. The source Redis must reach the
//! destination Redis (it already must for replication across hosts).
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
    let count = cfg.scan_count.max(1).to_string();
    let mut stats = ScanStats::default();
    let mut cursor = b"0".to_vec();
    let mut busy_keys = Vec::new();
    let mut paced: u32 = 0;
    let (host, port) = dst
        .rsplit_once(':')
        .ok_or_else(|| io::Error::other("destination address without a port"))?;
    let timeout_ms = cfg.timeout.as_millis().to_string();
    let mut pending: Pending = None;
    loop {
        let scan = vec![
            b"SCAN".to_vec(),
            cursor.clone(),
            b"COUNT".to_vec(),
            count.as_bytes().to_vec(),
        ];
        // why: the previous batch's MIGRATE rides with this SCAN: one round trip per batch.
        let reply = match pending.take() {
            Some((keys, migrate, guards)) => {
                let mut r = s.pipeline(&[migrate, scan])?;
                let scan_r = r.pop().ok_or_else(|| io::Error::other("short reply"))?;
                let m = r.pop().ok_or_else(|| io::Error::other("short reply"))?;
                settle_migrate(&mut s, &keys, m, &mut stats)?;
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
        if moved_any {
            let m = migrate_cmd(host, port, &timeout_ms, &mine);
            pending = Some((mine, m, guards));
        }
        if stop() {
            flush(&mut s, &mut pending, &mut stats)?;
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
    flush(&mut s, &mut pending, &mut stats)?;
    // SCAN returned every key that was on the source from start to end (none can arrive
    // after PRE_SWITCH), so once the keys set aside are dealt with the copy is complete.
    while !busy_keys.is_empty() {
        if stop() {
            return Ok(stats);
        }
        std::thread::sleep(Duration::from_millis(1));
        let mut retry = std::mem::take(&mut busy_keys);
        let guards = lock_all(locks, &mut retry, &mut busy_keys, &mut stats);
        if !retry.is_empty() {
            let m = migrate_cmd(host, port, &timeout_ms, &retry);
            let mut p = Some((retry, m, guards));
            flush(&mut s, &mut p, &mut stats)?;
        }
    }
    Ok(stats)
}

/// A batch whose MIGRATE is not sent yet: its keys, the command, and the keys' locks (held
/// until the MIGRATE and any clean-up are answered).
type Pending = Option<(Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<KeyGuard>)>;

/// `MIGRATE <host> <port> "" 0 <timeout> KEYS k...`: the source Redis sends each key
/// (value and TTL, as DUMP/RESTORE) straight to the destination Redis and deletes it. No
/// REPLACE: a key the destination already has was pulled there and may have been written
/// since, so its copy wins.
fn migrate_cmd(host: &str, port: &str, timeout_ms: &str, keys: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut m: Vec<Vec<u8>> = vec![
        b"MIGRATE".to_vec(),
        host.as_bytes().to_vec(),
        port.as_bytes().to_vec(),
        Vec::new(),
        b"0".to_vec(),
        timeout_ms.as_bytes().to_vec(),
        b"KEYS".to_vec(),
    ];
    m.extend(keys.iter().cloned());
    m
}

/// Sends the pending MIGRATE on its own.
fn flush(s: &mut Conn, pending: &mut Pending, stats: &mut ScanStats) -> io::Result<()> {
    if let Some((keys, m, guards)) = pending.take() {
        let r = s.call(&m)?;
        settle_migrate(s, &keys, r, stats)?;
        drop(guards);
    }
    Ok(())
}

/// Accounts for a MIGRATE reply. On `BUSYKEY` Redis moved the other keys and kept the ones
/// the destination already has: their source copies are older, so they are deleted here.
fn settle_migrate(
    s: &mut Conn,
    keys: &[Vec<u8>],
    reply: Value,
    stats: &mut ScanStats,
) -> io::Result<()> {
    let before = stats.moved;
    let r = settle_migrate_counts(s, keys, reply, stats);
    // why: the Prometheus progress counter moves per batch, so a long copy shows progress.
    crate::metrics::migration().keys_moved(stats.moved.saturating_sub(before));
    r
}

fn settle_migrate_counts(
    s: &mut Conn,
    keys: &[Vec<u8>],
    reply: Value,
    stats: &mut ScanStats,
) -> io::Result<()> {
    match reply {
        Value::Simple(ok) if ok == "OK" => stats.moved += keys.len() as u64,
        Value::Simple(_) => stats.gone += keys.len() as u64,
        // why: Redis wraps the target's error: "ERR Target instance replied with error:
        // BUSYKEY ...".
        Value::Error(e) if e.contains("BUSYKEY") => {
            let exists: Vec<Vec<&[u8]>> =
                keys.iter().map(|k| vec![b"EXISTS".as_slice(), k]).collect();
            let mut del: Vec<Vec<u8>> = vec![b"DEL".to_vec()];
            for (k, r) in keys.iter().zip(s.pipeline(&exists)?) {
                if r == Value::Int(1) {
                    del.push(k.clone());
                }
            }
            let left = (del.len() - 1) as u64;
            stats.already_there += left;
            stats.moved += keys.len() as u64 - left;
            if left > 0 {
                match s.call(&del)? {
                    Value::Int(_) => {}
                    other => return Err(io::Error::other(format!("DEL reply {other:?}"))),
                }
            }
        }
        other => return Err(io::Error::other(format!("MIGRATE reply {other:?}"))),
    }
    Ok(())
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
