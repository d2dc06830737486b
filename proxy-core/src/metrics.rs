//! Per-core counters. Each core writes only its own (cache-line aligned) block with plain
//! load+store, so the request path has no contended atomic; `INFO` sums all cores on demand.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One core's counters.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct CoreStats {
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Commands received.
    pub commands: AtomicU64,
    /// Sessions waiting on a blocking command now (INFO `blocked_clients`).
    pub blocked: AtomicU64,
}

/// Adds `n` to a counter only its own core writes. why: a single writer needs no atomic
/// read-modify-write; readers on other cores may see a slightly old value, which INFO accepts.
#[inline]
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Subtracts one (single writer, like [`bump`]).
#[inline]
pub fn drop_one(c: &AtomicU64) {
    c.store(c.load(Relaxed).saturating_sub(1), Relaxed);
}

/// Reads a counter.
pub fn read(c: &AtomicU64) -> u64 {
    c.load(Relaxed)
}
