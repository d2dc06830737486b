//! Replication: the proxy drives `REPLICAOF` on its own Redis nodes (spec 2.11, `SETREPL`).
//!
//! ```text
//!  UMCTL SETREPL (any core) ──► Control::repl (process-wide, epoch + generation + Arc<SetRepl>)
//!                                      │ polled by
//!                                      ▼
//!                          replicator task on core 0 ──► REPLICAOF NO ONE      (masters)
//!                                                    └─► REPLICAOF <host> <port> (replicas)
//! ```
//!
//! The replication state is not on the request path, so one task on core 0 applies it, at once
//! when a new SETREPL arrives and again every [`REASSERT_EVERY`], so a restarted Redis (which
//! comes back as an empty master) converges without anyone re-sending SETREPL. Errors are
//! logged and retried on the next round.

mod replicaof;

use crate::shard::Control;
use control::umctl::SetRepl;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use replicaof::replicaof;

/// Last accepted SETREPL, process-wide. Touched only by UMCTL and the replicator task.
#[derive(Debug, Default)]
pub struct ReplState {
    /// Epoch of the last accepted SETREPL (separate from SETCLUSTER's).
    pub epoch: u64,
    /// Bumped on every accepted SETREPL, so the replicator notices a change.
    pub generation: u64,
    /// The replication roles of the local nodes.
    pub set: Arc<SetRepl>,
}

/// How often the roles are asserted again. why: the original re-sends every 5 s; re-asserting
/// an unchanged role is a no-op for Redis (`+OK Already connected...`), and a shorter period
/// brings a restarted Redis back into its role sooner.
pub const REASSERT_EVERY: Duration = Duration::from_secs(2);
/// How often the task looks for a new SETREPL. why: a failover promotion should not wait for
/// the next re-assert; checking a mutex 20 times a second off the request path costs nothing.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// The replicator task: runs forever on one core.
pub async fn run(control: Arc<Control>, timeout: Duration) {
    let mut applied_generation = 0;
    let mut last_round = Instant::now();
    loop {
        let (generation, set) = match control.repl.lock() {
            Ok(s) => (s.generation, s.set.clone()),
            Err(_) => return,
        };
        if generation != applied_generation || last_round.elapsed() >= REASSERT_EVERY {
            applied_generation = generation;
            last_round = Instant::now();
            apply(&set, timeout).await;
        }
        glommio::timer::sleep(POLL_EVERY).await;
    }
}

async fn apply(set: &SetRepl, timeout: Duration) {
    for e in &set.entries {
        let master = e.master().map(|p| p.node_address.as_str());
        if let Err(err) = replicaof(&e.node_address, master, timeout).await {
            log::warn!(
                "replication: REPLICAOF {} on {} failed: {err}",
                master.unwrap_or("NO ONE"),
                e.node_address
            );
        }
    }
}
