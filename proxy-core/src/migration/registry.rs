//! The proxy's running migration tasks, process-wide: a SETCLUSTER hands its snapshot to
//! [`Registry::attach`], which keeps the tasks the snapshot names again (same identity, spec
//! 3.1), stops the others, and starts a thread for each new one ([`super::source`] or
//! [`super::import`]). The snapshot then carries the `Arc<Task>`s to every core.

use super::locks::KeyLocks;
use super::stats::MigrationStats;
use super::task::{Side, Task};
use super::{local_tasks, MigrationState, TaskStates};
use crate::snapshot::ClusterSnapshot;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a task's thread needs besides the task.
#[derive(Debug, Clone)]
pub struct Env {
    /// Cores that must drain their source connections before the switch.
    pub cores: usize,
    /// `control_password`, sent with AUTH to the peer proxy when set.
    pub control_password: Option<String>,
    /// Timeout of the task's own connections.
    pub timeout: Duration,
    /// Shared key locks.
    pub locks: Arc<KeyLocks>,
    /// Shared counters.
    pub stats: Arc<MigrationStats>,
}

/// Every task of the installed metadata.
#[derive(Debug)]
pub struct Registry {
    tasks: Mutex<Vec<Arc<Task>>>,
    /// Key locks of the destination side.
    pub locks: Arc<KeyLocks>,
    /// `UMCTL STATS` counters.
    pub stats: Arc<MigrationStats>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            tasks: Mutex::new(Vec::new()),
            locks: Arc::new(KeyLocks::default()),
            stats: Arc::new(MigrationStats::default()),
        }
    }
}

impl Registry {
    /// Puts the tasks of `snap` in it, reusing running ones and starting new ones.
    pub fn attach(&self, snap: &mut ClusterSnapshot, env: &Env) {
        let Ok(mut tasks) = self.tasks.lock() else {
            return;
        };
        let wanted = local_tasks(snap);
        let max_blocking =
            Duration::from_millis(snap.config.migration_config.max_blocking_time.max(1));
        let mut next = Vec::with_capacity(wanted.len());
        for t in wanted {
            if let Some(old) = tasks.iter().find(|x| x.is(&t) && !x.stopped()) {
                next.push(old.clone());
                continue;
            }
            let Some(task) = Task::new(t, max_blocking) else {
                continue;
            };
            let task = Arc::new(task);
            let (th, e, cfg) = (task.clone(), env.clone(), snap.config.migration_config);
            let spawned = std::thread::Builder::new()
                .name("migration".into())
                .spawn(move || match th.side {
                    Side::Source => super::source::run(&th, &e),
                    Side::Destination => super::import::run(&th, &e, &cfg),
                });
            if let Err(err) = spawned {
                log::error!("migration: cannot start a task thread: {err}");
                continue;
            }
            next.push(task);
        }
        for old in tasks.iter() {
            if !next.iter().any(|n| Arc::ptr_eq(n, old)) {
                old.stop();
            }
        }
        *tasks = next.clone();
        snap.migrations = next;
    }

    /// The task whose identity equals `t`'s, if running.
    pub fn find(&self, t: &control::model::MigrationTask) -> Option<Arc<Task>> {
        self.tasks
            .lock()
            .ok()?
            .iter()
            .find(|x| x.is(t) && !x.stopped())
            .cloned()
    }

    /// Current states, for INFOMGR, INFO and the switch verdicts.
    pub fn states(&self) -> TaskStates {
        let tasks = self.tasks.lock().map(|t| t.clone()).unwrap_or_default();
        TaskStates(
            tasks
                .iter()
                .map(|t| (t.task.clone(), t.state()))
                .collect::<Vec<_>>(),
        )
    }
}

/// States of the tasks a snapshot carries (for `CLUSTER NODES/SLOTS`).
pub fn snapshot_states(snap: &ClusterSnapshot) -> TaskStates {
    TaskStates(
        snap.migrations
            .iter()
            .map(|t| (t.task.clone(), t.state()))
            .collect(),
    )
}

/// True while `state` is one a source must still hold the range in.
pub fn source_holds(state: MigrationState) -> bool {
    state < MigrationState::PreSwitch
}
