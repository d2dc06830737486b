//! Per-core counters. Each core writes only its own (cache-line aligned) block with plain
//! load+store, so the request path has no contended atomic and no lock; `INFO` and the
//! Prometheus endpoint (a side thread, see [`exposition`]) read all cores on demand.
//!
//! Code that has no `Shard` at hand (backend connections, the session writer) reaches its own
//! core's block through [`local`], a thread-local set when the core starts.
//!
//! Migration progress is process-wide ([`migration`]) because the scanner may run off the
//! cores; it uses plain atomic adds, it is not on the request path.

use crate::shard::Control;
use control::metrics::{Exposition, Kind, LATENCY_BUCKETS};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Kinds of error replies counted (`kind` label, INFO `proxy_errors_<kind>`).
pub const ERROR_KINDS: [&str; 6] = [
    "protocol", "backend", "redirect", "cluster", "auth", "command",
];

/// Buckets of the backend latency histogram: one per bound, then `+Inf`.
pub const LATENCY_SLOTS: usize = LATENCY_BUCKETS.len() + 1;

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
    /// Error replies sent to clients, by [`ERROR_KINDS`] index.
    pub errors: [AtomicU64; ERROR_KINDS.len()],
    /// Sampled backend round trips, by bucket of [`LATENCY_BUCKETS`] (then `+Inf`).
    pub backend_latency: [AtomicU64; LATENCY_SLOTS],
    /// Sum of the sampled round trips, microseconds.
    pub backend_latency_sum_us: AtomicU64,
    /// Times a client's reader paused because its unread replies hit a cap (back-pressure).
    pub client_pauses: AtomicU64,
    /// Connections closed for outgrowing `client_query_buffer_limit`.
    pub query_buffer_closes: AtomicU64,
}

thread_local! {
    /// This thread's core: the process's control state and the core index.
    static LOCAL: RefCell<Option<(Arc<Control>, usize)>> = const { RefCell::new(None) };
}

/// Makes [`local`] on this thread reach core `core`'s counters. Called when a core starts.
pub fn attach(control: Arc<Control>, core: usize) {
    LOCAL.with(|l| *l.borrow_mut() = Some((control, core)));
}

/// Runs `f` on this core's counters (nothing off the cores).
#[inline]
pub fn local(f: impl FnOnce(&CoreStats)) {
    LOCAL.with(|l| {
        if let Some((ctl, core)) = l.borrow().as_ref() {
            if let Some(s) = ctl.stats.get(*core) {
                f(s);
            }
        }
    });
}

/// The kind of an error reply (`-...` or RESP3 `!...`), `None` for any other reply.
pub fn error_kind(reply: &[u8]) -> Option<usize> {
    let text = match reply.first()? {
        b'-' => reply.get(1..)?,
        b'!' => {
            let nl = memchr::memchr(b'\n', reply)?;
            reply.get(nl + 1..)?
        }
        _ => return None,
    };
    let starts = |p: &[u8]| text.len() >= p.len() && text.get(..p.len()) == Some(p);
    let kind = if starts(b"ERR Protocol error") {
        0
    } else if starts(b"ERR_BACKEND_CONNECTION")
        || starts(b"Err cmd error")
        || starts(b"failed to connect")
    {
        1
    } else if starts(b"MOVED ") || starts(b"ASK ") || starts(b"TRYAGAIN") {
        2
    } else if starts(b"ERR_CLUSTER_NOT_FOUND")
        || starts(b"CROSSSLOT")
        || starts(b"CLUSTERDOWN")
        || starts(b"ERR_NOT_MY_META")
        || starts(b"OLD_EPOCH")
    {
        3
    } else if starts(b"NOAUTH") || starts(b"WRONGPASS") || starts(b"NOPERM") {
        4
    } else {
        5
    };
    Some(kind)
}

/// Counts `reply` if it is an error. Called by the session writer for every reply.
#[inline]
pub fn note_reply(reply: &[u8]) {
    if matches!(reply.first(), Some(b'-' | b'!')) {
        if let Some(k) = error_kind(reply) {
            local(|s| {
                if let Some(c) = s.errors.get(k) {
                    bump(c, 1);
                }
            });
        }
    }
}

/// Records one sampled backend round trip on this core.
pub fn note_backend_latency(took: Duration) {
    let secs = took.as_secs_f64();
    let slot = LATENCY_BUCKETS
        .iter()
        .position(|b| secs <= *b)
        .unwrap_or(LATENCY_BUCKETS.len());
    local(|s| {
        if let Some(c) = s.backend_latency.get(slot) {
            bump(c, 1);
        }
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        bump(&s.backend_latency_sum_us, us);
    });
}

/// Migration progress of this process. The migration task calls [`MigrationProgress::keys_moved`]
/// for each batch of keys it copied and [`MigrationProgress::range_done`] when a slot range is
/// handed over; both show in the metrics and INFO.
#[derive(Debug, Default)]
pub struct MigrationProgress {
    keys: AtomicU64,
    ranges: AtomicU64,
}

impl MigrationProgress {
    /// `n` more keys copied to the destination.
    pub fn keys_moved(&self, n: u64) {
        self.keys.fetch_add(n, Relaxed);
    }

    /// One more slot range finished (switched over).
    pub fn range_done(&self) {
        self.ranges.fetch_add(1, Relaxed);
    }

    /// (keys moved, ranges done) since start.
    pub fn read(&self) -> (u64, u64) {
        (self.keys.load(Relaxed), self.ranges.load(Relaxed))
    }
}

static MIGRATION: MigrationProgress = MigrationProgress {
    keys: AtomicU64::new(0),
    ranges: AtomicU64::new(0),
};

/// The process's migration progress counters.
pub fn migration() -> &'static MigrationProgress {
    &MIGRATION
}

/// Sums one value over all cores.
fn total(ctl: &Control, f: impl Fn(&CoreStats) -> u64) -> u64 {
    ctl.stats.iter().map(f).fold(0, u64::wrapping_add)
}

/// The `# Proxy` section of INFO: the metrics' counters summed over cores, `proxy_`-prefixed.
pub fn info_fields(ctl: &Control) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let (keys, ranges) = migration().read();
    let lat_count = total(ctl, |c| c.backend_latency.iter().map(read).sum());
    let fields = [
        (
            "proxy_client_pauses",
            total(ctl, |c| read(&c.client_pauses)),
        ),
        (
            "proxy_query_buffer_closes",
            total(ctl, |c| read(&c.query_buffer_closes)),
        ),
        ("proxy_backend_latency_samples", lat_count),
        (
            "proxy_backend_latency_sum_us",
            total(ctl, |c| read(&c.backend_latency_sum_us)),
        ),
        ("proxy_migration_keys_moved", keys),
        ("proxy_migration_ranges_done", ranges),
    ];
    for (k, v) in fields {
        let _ = write!(s, "{k}:{v}\r\n");
    }
    for (i, kind) in ERROR_KINDS.iter().enumerate() {
        let n = total(ctl, |c| c.errors.get(i).map_or(0, read));
        let _ = write!(s, "proxy_errors_{kind}:{n}\r\n");
    }
    s
}

/// The Prometheus page of the proxy (served by the metrics thread, never a core).
pub fn exposition(ctl: &Control) -> String {
    let mut e = Exposition::new();
    let cores: Vec<String> = (0..ctl.stats.len()).map(|i| i.to_string()).collect();
    let per_core =
        |e: &mut Exposition, name: &str, kind: Kind, help: &str, f: &dyn Fn(&CoreStats) -> u64| {
            e.family(name, kind, help);
            for (s, core) in ctl.stats.iter().zip(&cores) {
                e.sample(name, &[("core", core)], f(s) as f64);
            }
        };
    per_core(
        &mut e,
        "undermoon_proxy_commands_total",
        Kind::Counter,
        "Commands received, per core.",
        &|s| read(&s.commands),
    );
    per_core(
        &mut e,
        "undermoon_proxy_connections_total",
        Kind::Counter,
        "Client connections accepted, per core.",
        &|s| read(&s.connections_total),
    );
    per_core(
        &mut e,
        "undermoon_proxy_connections_open",
        Kind::Gauge,
        "Client connections open now, per core.",
        &|s| read(&s.connections_open),
    );
    per_core(
        &mut e,
        "undermoon_proxy_blocked_clients",
        Kind::Gauge,
        "Clients waiting on a blocking command, per core.",
        &|s| read(&s.blocked),
    );
    per_core(&mut e, "undermoon_proxy_client_pauses_total", Kind::Counter, "Times a client's reading paused because its unread replies hit client_max_pending_replies or client_output_buffer_limit.", &|s| read(&s.client_pauses));
    per_core(
        &mut e,
        "undermoon_proxy_query_buffer_closes_total",
        Kind::Counter,
        "Connections closed for exceeding client_query_buffer_limit.",
        &|s| read(&s.query_buffer_closes),
    );
    e.family(
        "undermoon_proxy_errors_total",
        Kind::Counter,
        "Error replies sent to clients, by kind and core.",
    );
    for (s, core) in ctl.stats.iter().zip(&cores) {
        for (i, kind) in ERROR_KINDS.iter().enumerate() {
            let n = s.errors.get(i).map_or(0, read);
            e.sample(
                "undermoon_proxy_errors_total",
                &[("core", core), ("kind", kind)],
                n as f64,
            );
        }
    }
    e.family(
        "undermoon_proxy_backend_latency_seconds",
        Kind::Histogram,
        "Backend round trip of sampled requests (1 in 16), per core.",
    );
    for (s, core) in ctl.stats.iter().zip(&cores) {
        let counts: Vec<u64> = s.backend_latency.iter().map(read).collect();
        let sum = read(&s.backend_latency_sum_us) as f64 / 1e6;
        e.histogram(
            "undermoon_proxy_backend_latency_seconds",
            &[("core", core)],
            &LATENCY_BUCKETS,
            &counts,
            sum,
        );
    }
    let (keys, ranges) = migration().read();
    e.single(
        "undermoon_proxy_migration_keys_moved_total",
        Kind::Counter,
        "Keys copied to other nodes by slot migration.",
        keys as f64,
    );
    e.single(
        "undermoon_proxy_migration_ranges_done_total",
        Kind::Counter,
        "Slot ranges whose migration finished.",
        ranges as f64,
    );
    e.finish()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds() {
        let kind = |r: &[u8]| error_kind(r).and_then(|k| ERROR_KINDS.get(k).copied());
        assert_eq!(kind(b"+OK\r\n"), None);
        assert_eq!(kind(b"$3\r\n-no\r\n"), None);
        assert_eq!(kind(b"-ERR Protocol error: x\r\n"), Some("protocol"));
        assert_eq!(kind(b"-ERR_BACKEND_CONNECTION: a:1\r\n"), Some("backend"));
        assert_eq!(kind(b"-Err cmd error BackendTimeout\r\n"), Some("backend"));
        assert_eq!(kind(b"-MOVED 1 a:1\r\n"), Some("redirect"));
        assert_eq!(kind(b"-ERR_CLUSTER_NOT_FOUND\r\n"), Some("cluster"));
        assert_eq!(kind(b"-CROSSSLOT Keys\r\n"), Some("cluster"));
        assert_eq!(kind(b"-NOAUTH Authentication required.\r\n"), Some("auth"));
        assert_eq!(kind(b"-WRONGTYPE Operation\r\n"), Some("command"));
        assert_eq!(kind(b"!21\r\nSYNTAX invalid syntax\r\n"), Some("command"));
        assert_eq!(kind(b"!10\r\nMOVED 1 a\r\n"), Some("redirect"));
        assert_eq!(kind(b"-"), Some("command"));
    }

    #[test]
    fn migration_progress_adds_up() {
        let m = MigrationProgress::default();
        m.keys_moved(10);
        m.keys_moved(5);
        m.range_done();
        assert_eq!(m.read(), (15, 1));
    }
}
