//! The coordinator's counters for its metrics endpoint: rounds run and failed per loop, and
//! what the rounds saw (proxies found down, failovers asked, metadata pushes, migrations
//! committed). Process-wide atomics: one coordinator per process, and the loops are threads.

use crate::metrics::{Exposition, Kind};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The loops, in the order of the `loop` label.
pub const LOOPS: [&str; 4] = ["detect", "failover", "sync", "migrate"];

struct Counters {
    rounds: [AtomicU64; LOOPS.len()],
    round_failures: [AtomicU64; LOOPS.len()],
    proxies_down: AtomicU64,
    failovers_ok: AtomicU64,
    failovers_failed: AtomicU64,
    pushes_ok: AtomicU64,
    pushes_failed: AtomicU64,
    migrations_committed: AtomicU64,
}

static C: Counters = Counters {
    rounds: [const { AtomicU64::new(0) }; LOOPS.len()],
    round_failures: [const { AtomicU64::new(0) }; LOOPS.len()],
    proxies_down: AtomicU64::new(0),
    failovers_ok: AtomicU64::new(0),
    failovers_failed: AtomicU64::new(0),
    pushes_ok: AtomicU64::new(0),
    pushes_failed: AtomicU64::new(0),
    migrations_committed: AtomicU64::new(0),
};

fn index(name: &str) -> Option<usize> {
    LOOPS.iter().position(|l| *l == name)
}

/// A round of loop `name` started.
pub fn round(name: &str) {
    if let Some(c) = index(name).and_then(|i| C.rounds.get(i)) {
        c.fetch_add(1, Relaxed);
    }
}

/// A round of loop `name` stopped early (the broker could not be read).
pub fn round_failed(name: &str) {
    if let Some(c) = index(name).and_then(|i| C.round_failures.get(i)) {
        c.fetch_add(1, Relaxed);
    }
}

/// Detection found a proxy not answering.
pub fn proxy_down() {
    C.proxies_down.fetch_add(1, Relaxed);
}

/// A failover was asked of the broker.
pub fn failover(ok: bool) {
    let c = if ok {
        &C.failovers_ok
    } else {
        &C.failovers_failed
    };
    c.fetch_add(1, Relaxed);
}

/// A SETREPL/SETCLUSTER push ended.
pub fn push(ok: bool) {
    let c = if ok { &C.pushes_ok } else { &C.pushes_failed };
    c.fetch_add(1, Relaxed);
}

/// A finished migration was committed to the broker.
pub fn migration_committed() {
    C.migrations_committed.fetch_add(1, Relaxed);
}

fn get(c: &AtomicU64) -> f64 {
    c.load(Relaxed) as f64
}

/// The coordinator's metrics page.
pub fn exposition() -> String {
    let mut e = Exposition::new();
    let per_loop = |e: &mut Exposition, name: &str, help: &str, arr: &[AtomicU64]| {
        e.family(name, Kind::Counter, help);
        for (l, c) in LOOPS.iter().zip(arr) {
            e.sample(name, &[("loop", l)], get(c));
        }
    };
    per_loop(
        &mut e,
        "undermoon_coordinator_rounds_total",
        "Rounds run, per loop.",
        &C.rounds,
    );
    per_loop(
        &mut e,
        "undermoon_coordinator_round_failures_total",
        "Rounds cut short because the broker could not be read, per loop.",
        &C.round_failures,
    );
    e.single(
        "undermoon_coordinator_proxy_failures_seen_total",
        Kind::Counter,
        "Times detection found a proxy not answering and reported it.",
        get(&C.proxies_down),
    );
    let pair = |e: &mut Exposition, name: &str, help: &str, ok: &AtomicU64, bad: &AtomicU64| {
        e.family(name, Kind::Counter, help);
        e.sample(name, &[("result", "ok")], get(ok));
        e.sample(name, &[("result", "error")], get(bad));
    };
    pair(
        &mut e,
        "undermoon_coordinator_failovers_total",
        "Failovers asked of the broker, by result.",
        &C.failovers_ok,
        &C.failovers_failed,
    );
    pair(
        &mut e,
        "undermoon_coordinator_pushes_total",
        "Metadata pushes (SETREPL + SETCLUSTER) to proxies, by result.",
        &C.pushes_ok,
        &C.pushes_failed,
    );
    e.single(
        "undermoon_coordinator_migrations_committed_total",
        Kind::Counter,
        "Finished migrations committed to the broker.",
        get(&C.migrations_committed),
    );
    e.finish()
}
