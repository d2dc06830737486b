//! On-demand pull at the destination (spec 3.3, our variant): before a command on a key of a
//! range being imported runs here, the key is moved from the source Redis under its key lock
//! (`PTTL`+`DUMP` there, `RESTORE` here without REPLACE, `DEL` there). After that the source
//! has no copy, so whatever the command does (even a delete) cannot be undone by the scanner.
//! Runs on the data-plane core with its own pipelined connections (one per Redis address
//! per core), awaited by the one session that needs the key.

use super::stats::{Counter, MigrationStats};
use super::task::Task;
use crate::backend::BackendGroup;
use crate::sync::ReplySlot;
use bytes::Bytes;
use control::client::resp::{encode, read_value, Value};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::locks::KeyLocks;

thread_local! {
    /// This core's connections used by pulls, by Redis address. why: separate from the
    /// sessions' groups so a pull never queues behind (or ahead of) client commands.
    static GROUPS: RefCell<HashMap<String, Rc<BackendGroup>>> = RefCell::new(HashMap::new());
    /// Keys this core has already pulled (or found absent at the source) per running task.
    /// why: after that the source can never hold the key again (it stopped serving the
    /// range), so later commands on a hot key skip the round trip to the source Redis.
    static SETTLED: RefCell<Vec<Settled>> = const { RefCell::new(Vec::new()) };
}

/// A task and the keys this core no longer needs to pull for it.
type Settled = (Weak<Task>, HashSet<Vec<u8>>);

/// Most keys remembered per task and core. why: bounds memory; past it keys are pulled
/// (checked at the source) every time, which is only slower.
const MAX_SETTLED: usize = 1 << 20;

fn settled(task: &Arc<Task>, key: &[u8]) -> bool {
    SETTLED.with(|s| {
        s.borrow()
            .iter()
            .any(|(t, keys)| t.as_ptr() == Arc::as_ptr(task) && keys.contains(key))
    })
}

fn settle(task: &Arc<Task>, key: &[u8]) {
    SETTLED.with(|s| {
        let mut s = s.borrow_mut();
        s.retain(|(t, _)| t.upgrade().is_some_and(|t| !t.stopped()));
        let i = match s.iter().position(|(t, _)| t.as_ptr() == Arc::as_ptr(task)) {
            Some(i) => i,
            None => {
                s.push((Arc::downgrade(task), HashSet::new()));
                s.len() - 1
            }
        };
        if let Some((_, keys)) = s.get_mut(i) {
            if keys.len() < MAX_SETTLED {
                keys.insert(key.to_vec());
            }
        }
    });
}

/// Why a pull failed; the session answers the command with [`PullError::message`].
#[derive(Debug)]
pub enum PullError {
    /// The key stayed locked longer than `migration_max_blocking_time`.
    LockTimeout,
    /// The source or destination Redis failed or answered unexpectedly.
    Redis(String),
}

impl PullError {
    /// Error reply text without `-`.
    pub fn message(&self) -> String {
        match self {
            PullError::LockTimeout => "MIGRATION_KEY_LOCK_TIMEOUT".to_string(),
            PullError::Redis(e) => format!("MIGRATION_FORWARD: failed to access source node: {e}"),
        }
    }
}

fn group(addr: &str, timeout: Duration) -> Rc<BackendGroup> {
    GROUPS.with(|g| {
        g.borrow_mut()
            .entry(addr.to_string())
            .or_insert_with(|| BackendGroup::new(addr, 1, timeout))
            .clone()
    })
}

async fn call(g: &BackendGroup, cmds: &[Vec<&[u8]>]) -> Result<Vec<Value>, PullError> {
    let conn = g
        .for_session(0, false)
        .ok_or_else(|| PullError::Redis("no connection".into()))?;
    let slots: Vec<Rc<ReplySlot>> = cmds
        .iter()
        .map(|c| {
            let s = ReplySlot::new();
            conn.send(Bytes::from(encode(c)), s.clone());
            s
        })
        .collect();
    let mut out = Vec::with_capacity(slots.len());
    for s in slots {
        let bytes = s.wait().await;
        let v = read_value(&mut &bytes[..]).map_err(|e| PullError::Redis(e.to_string()))?;
        out.push(v);
    }
    Ok(out)
}

/// Moves `key` from the task's source Redis to its destination Redis if the source has it.
///
/// # Errors
/// See [`PullError`].
pub async fn pull(
    task: &Arc<Task>,
    key: &[u8],
    locks: &Arc<KeyLocks>,
    stats: &MigrationStats,
    timeout: Duration,
) -> Result<(), PullError> {
    let Some(meta) = task.meta() else {
        return Ok(());
    };
    if settled(task, key) {
        stats.add(Counter::DstKeyExisted, 1);
        return Ok(());
    }
    let start = Instant::now();
    let _guard = loop {
        if let Some(g) = locks.try_lock(key) {
            stats.add(Counter::LockSuccess, 1);
            break g;
        }
        stats.add(Counter::LockLoopRetry, 1);
        if start.elapsed() > task.max_blocking {
            stats.add(Counter::LockFailed, 1);
            return Err(PullError::LockTimeout);
        }
        glommio::timer::sleep(Duration::from_millis(1)).await;
    };
    let src = group(&meta.src_node_address, timeout);
    let r = call(&src, &[vec![b"PTTL", key], vec![b"DUMP", key]]).await;
    let (ttl, payload) = match r.as_deref() {
        Ok([Value::Int(-2), _] | [_, Value::Nil]) => {
            stats.add(Counter::SrcKeyNotExisted, 1);
            settle(task, key);
            return Ok(());
        }
        Ok([Value::Int(t), Value::Bulk(p)]) => (*t, p.clone()),
        Ok(other) => {
            stats.add(Counter::SrcFailed, 1);
            return Err(PullError::Redis(format!("PTTL/DUMP reply {other:?}")));
        }
        Err(_) => {
            stats.add(Counter::SrcFailed, 1);
            return r.map(|_| ());
        }
    };
    stats.add(Counter::SrcKeyExisted, 1);
    // why: PTTL -1 is "no expiry" (RESTORE 0); 0 is "expiring now", which 0 would make eternal.
    let ttl = match ttl {
        t if t < 0 => 0,
        0 => 1,
        t => t,
    };
    let ttl = ttl.to_string();
    let dst = group(&meta.dst_node_address, timeout);
    match call(&dst, &[vec![b"RESTORE", key, ttl.as_bytes(), &payload]]).await? {
        v if matches!(v.first(), Some(Value::Simple(_))) => {}
        // why: BUSYKEY: this side already has the key, and its copy is the newer one.
        v if matches!(v.first(), Some(Value::Error(e)) if e.starts_with("BUSYKEY")) => {
            stats.add(Counter::DstKeyExisted, 1);
        }
        other => return Err(PullError::Redis(format!("RESTORE reply {other:?}"))),
    }
    match call(&src, &[vec![b"DEL", key]]).await?.first() {
        Some(Value::Int(_)) => {
            settle(task, key);
            crate::metrics::migration().keys_moved(1);
            Ok(())
        }
        other => Err(PullError::Redis(format!("DEL reply {other:?}"))),
    }
}
