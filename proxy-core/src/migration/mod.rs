//! Slot migration (spec 3). Pure parts: task identity and states, which ranges `CLUSTER
//! NODES/SLOTS` list for a given state (spec 2.9), the destination's verdict on a switch
//! command ([`switch`]) and what a request on a slot of a tagged range does ([`gate`]).
//! Running parts: [`registry`] starts a thread per task ([`source`], [`import`]), the cores
//! drain ([`drain`]) and pull keys on demand ([`pull`]) under [`locks`]. Design and its cost
//! (no UMSYNC): `docs/migration.md`.

pub mod deletes;
pub mod drain;
pub mod import;
pub mod locks;
pub mod pull;
pub mod registry;
pub mod scan;
pub mod source;
pub mod stats;
pub mod switch;
pub mod task;

use crate::snapshot::ClusterSnapshot;
use control::model::{MigrationTask, SlotRange, SlotRangeTag};
use std::sync::Arc;
use task::{Side, Task};

/// What a request on one slot does while migration tasks exist.
#[derive(Debug, Clone)]
pub enum Gate {
    /// Route as usual.
    Serve,
    /// Source, before the destination took over: wait (bounded by the task's
    /// `max_blocking`), then decide again.
    Hold(Arc<Task>),
    /// Destination, after PRE_SWITCH: pull the key from the source first.
    Pull(Arc<Task>),
    /// Answer `MOVED <slot> <addr>` (the other end serves the slot now).
    Moved(String),
}

/// The gate for `slot` under `snap`'s tasks.
pub fn gate(snap: &ClusterSnapshot, slot: u16) -> Gate {
    let Some(t) = snap
        .migrations
        .iter()
        .find(|t| t.task.slot_range.range_list.contains(slot))
    else {
        return Gate::Serve;
    };
    let Some(meta) = t.meta() else {
        return Gate::Serve;
    };
    let state = t.state();
    match t.side {
        Side::Source if registry::source_holds(state) => Gate::Hold(t.clone()),
        Side::Source => Gate::Moved(meta.dst_proxy_address.clone()),
        Side::Destination => match state {
            MigrationState::PreCheck => Gate::Moved(meta.src_proxy_address.clone()),
            MigrationState::SwitchCommitted => Gate::Serve,
            _ => Gate::Pull(t.clone()),
        },
    }
}

/// A task's progress; the names are the ones `UMCTL INFO` shows (spec 3.2, 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum MigrationState {
    /// Waiting for the destination to accept `PRECHECK`; the source still serves the range.
    #[default]
    PreCheck,
    /// Source only: draining the source Redis before the switch.
    PreBlocking,
    /// The destination serves the range.
    PreSwitch,
    /// Source only: copying the remaining keys.
    Scanning,
    /// Source only: telling the destination the copy is complete.
    FinalSwitch,
    /// Done; reported by `UMCTL INFOMGR` until the committed metadata arrives.
    SwitchCommitted,
}

impl MigrationState {
    /// Name shown by `UMCTL INFO`.
    pub fn name(self) -> &'static str {
        match self {
            MigrationState::PreCheck => "PRE_CHECK",
            MigrationState::PreBlocking => "PRE_BLOCKING",
            MigrationState::PreSwitch => "PRE_SWITCH",
            MigrationState::Scanning => "SCANNING",
            MigrationState::FinalSwitch => "FINAL_SWITCH",
            MigrationState::SwitchCommitted => "SWITCH_COMMITTED",
        }
    }
}

/// The migration tasks a snapshot asks this proxy to run: one per tagged local range.
/// A task is identified by all of it (cluster, ranges, tag, the five meta fields), so a
/// SETCLUSTER repeating it keeps the task and any change makes a new one (spec 3.1).
pub fn local_tasks(snap: &ClusterSnapshot) -> Vec<MigrationTask> {
    snap.local
        .iter()
        .flat_map(|(_, ranges)| ranges)
        .filter(|r| r.tag.meta().is_some())
        .map(|r| MigrationTask {
            cluster_name: snap.name.clone(),
            slot_range: r.clone(),
        })
        .collect()
}

/// This proxy's tasks and where each one is.
#[derive(Debug, Clone, Default)]
pub struct TaskStates(pub Vec<(MigrationTask, MigrationState)>);

impl TaskStates {
    /// Every task of `snap` in its first state.
    pub fn starting(snap: &ClusterSnapshot) -> Self {
        Self(
            local_tasks(snap)
                .into_iter()
                .map(|t| (t, MigrationState::PreCheck))
                .collect(),
        )
    }

    /// State of the local task moving the same slots between the same ends as `range`
    /// (whichever side holds the tag); [`MigrationState::PreCheck`] when there is none, as a
    /// task that has not started has not switched anything.
    pub fn state_for(&self, range: &SlotRange) -> MigrationState {
        let Some(meta) = range.tag.meta() else {
            return MigrationState::PreCheck;
        };
        self.0
            .iter()
            .find(|(t, _)| {
                t.slot_range.range_list == range.range_list && t.slot_range.tag.meta() == Some(meta)
            })
            .map_or(MigrationState::PreCheck, |(_, s)| *s)
    }

    /// Whether `CLUSTER NODES/SLOTS` list `range` under its holder (spec 2.9): a migrating
    /// range only while the task is in PRE_CHECK, an importing range once it has left it.
    /// The same rule serves local and peer ranges, so exactly one of the two ends lists a
    /// migrating range at any time this proxy can see.
    pub fn listed(&self, range: &SlotRange) -> bool {
        match range.tag {
            SlotRangeTag::None => true,
            SlotRangeTag::Migrating(_) => self.state_for(range) == MigrationState::PreCheck,
            SlotRangeTag::Importing(_) => self.state_for(range) != MigrationState::PreCheck,
        }
    }

    /// The `UMCTL INFOMGR` lines: tasks that reached SWITCH_COMMITTED.
    pub fn finished_lines(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, s)| *s == MigrationState::SwitchCommitted)
            .filter_map(|(t, _)| t.to_text())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use control::umctl::SetCluster;

    const META: &str = "2 127.0.0.1:6001 127.0.0.1:7001 127.0.0.1:6002 127.0.0.1:7002";

    fn snap(s: &str) -> ClusterSnapshot {
        let args: Vec<&[u8]> = s.split(' ').map(str::as_bytes).collect();
        ClusterSnapshot::build(SetCluster::decode(&args).unwrap(), 1).unwrap()
    }

    fn source() -> ClusterSnapshot {
        snap(&format!(
            "v2 2 NOFLAGS mydb 127.0.0.1:7001 1 0-8000 127.0.0.1:7001 migrating 1 8001-16383 {META} \
             PEER 127.0.0.1:6002 importing 1 8001-16383 {META}"
        ))
    }

    #[test]
    fn tasks_come_from_tagged_local_ranges_only() {
        let s = source();
        let tasks = local_tasks(&s);
        assert_eq!(tasks.len(), 1);
        assert_eq!(
            tasks[0].to_text().unwrap(),
            format!("mydb MIGRATING 1 8001-16383 {META}")
        );
        assert!(local_tasks(&snap("v2 1 NOFLAGS db r:1 1 0-16383")).is_empty());
    }

    #[test]
    fn visibility_follows_the_local_task_state() {
        let s = source();
        let mut states = TaskStates::starting(&s);
        // why: both local ranges sit on one Redis address, so they share one entry.
        let local: Vec<&SlotRange> = s.local.iter().flat_map(|(_, r)| r).collect();
        let stable = local[0];
        let mine = local[1];
        let peer = &s.peer[0].1[0];
        assert!(matches!(mine.tag, SlotRangeTag::Migrating(_)));
        // PRE_CHECK: the source lists the range, the destination's copy is hidden.
        assert!(states.listed(stable));
        assert!(states.listed(mine));
        assert!(!states.listed(peer));
        assert!(states.finished_lines().is_empty());
        for st in [
            MigrationState::PreBlocking,
            MigrationState::PreSwitch,
            MigrationState::Scanning,
            MigrationState::SwitchCommitted,
        ] {
            states.0[0].1 = st;
            assert!(!states.listed(mine), "{}", st.name());
            assert!(states.listed(peer), "{}", st.name());
        }
        assert_eq!(
            states.finished_lines(),
            vec![format!("mydb MIGRATING 1 8001-16383 {META}")]
        );
    }

    #[test]
    fn gate_follows_side_and_state() {
        let with_tasks = |s: ClusterSnapshot| {
            let mut s = s;
            s.migrations = local_tasks(&s)
                .into_iter()
                .filter_map(|t| Task::new(t, std::time::Duration::from_secs(1)))
                .map(Arc::new)
                .collect();
            s
        };
        let src = with_tasks(source());
        let dst = with_tasks(snap(&format!(
            "v2 2 NOFLAGS mydb 127.0.0.1:7002 importing 1 8001-16383 {META} \
             PEER 127.0.0.1:6001 1 0-8000 127.0.0.1:6001 migrating 1 8001-16383 {META}"
        )));
        assert!(matches!(gate(&src, 100), Gate::Serve));
        assert!(matches!(gate(&src, 9000), Gate::Hold(_)));
        assert!(matches!(gate(&dst, 9000), Gate::Moved(ref a) if a == "127.0.0.1:6001"));
        src.migrations[0].set_state(MigrationState::Scanning);
        assert!(matches!(gate(&src, 9000), Gate::Moved(ref a) if a == "127.0.0.1:6002"));
        dst.migrations[0].set_state(MigrationState::PreSwitch);
        assert!(matches!(gate(&dst, 9000), Gate::Pull(_)));
        dst.migrations[0].set_state(MigrationState::SwitchCommitted);
        assert!(matches!(gate(&dst, 9000), Gate::Serve));
        assert_eq!(dst.migrations[0].state(), MigrationState::SwitchCommitted);
    }

    #[test]
    fn a_different_epoch_is_another_task() {
        let states = TaskStates(vec![(
            local_tasks(&source()).remove(0),
            MigrationState::Scanning,
        )]);
        let other = snap(
            "v2 3 NOFLAGS mydb 127.0.0.1:7001 migrating 1 8001-16383 3 127.0.0.1:6001 127.0.0.1:7001 127.0.0.1:6002 127.0.0.1:7002",
        );
        assert_eq!(
            states.state_for(&other.local[0].1[0]),
            MigrationState::PreCheck
        );
        assert_eq!(MigrationState::default().name(), "PRE_CHECK");
    }
}
