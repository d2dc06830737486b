//! One running migration task as every core and the task's own thread see it: identity, side,
//! state (an atomic, read per request only for slots of a tagged range), the per-core drain
//! barrier of the source and the stop flag. Snapshots hold `Arc<Task>`s, so the immutable
//! snapshot stays the only routing input and the task's progress is the only thing that moves.

use super::MigrationState;
use control::model::{MigrationMeta, MigrationTask, SlotRangeTag};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Which end of the migration this proxy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The range leaves this proxy.
    Source,
    /// The range arrives at this proxy.
    Destination,
}

/// A task shared by the cores (routing) and its thread (progress).
#[derive(Debug)]
pub struct Task {
    /// Identity (spec 3.1).
    pub task: MigrationTask,
    /// Which end we are.
    pub side: Side,
    /// `migration_max_blocking_time`.
    pub max_blocking: Duration,
    /// When the task was created (the source starts holding the range then).
    pub started: Instant,
    state: AtomicU8,
    stop: AtomicBool,
    /// Source: cores whose backend connections to the source Redis have delivered every
    /// request routed before the task existed.
    drained: AtomicUsize,
}

const STATES: [MigrationState; 6] = [
    MigrationState::PreCheck,
    MigrationState::PreBlocking,
    MigrationState::PreSwitch,
    MigrationState::Scanning,
    MigrationState::FinalSwitch,
    MigrationState::SwitchCommitted,
];

impl Task {
    /// A task in PRE_CHECK; `None` for an untagged range.
    pub fn new(task: MigrationTask, max_blocking: Duration) -> Option<Self> {
        let side = match task.slot_range.tag {
            SlotRangeTag::Migrating(_) => Side::Source,
            SlotRangeTag::Importing(_) => Side::Destination,
            SlotRangeTag::None => return None,
        };
        Some(Self {
            task,
            side,
            max_blocking,
            started: Instant::now(),
            state: AtomicU8::new(0),
            stop: AtomicBool::new(false),
            drained: AtomicUsize::new(0),
        })
    }

    /// The five migration fields.
    pub fn meta(&self) -> Option<&MigrationMeta> {
        self.task.slot_range.tag.meta()
    }

    /// Current state.
    pub fn state(&self) -> MigrationState {
        let i = usize::from(self.state.load(Ordering::SeqCst));
        STATES.get(i).copied().unwrap_or_default()
    }

    /// Moves to `s`. why SeqCst: a core that reads the state right after must see it before
    /// anything the task does next (the source's PRESWITCH).
    pub fn set_state(&self, s: MigrationState) {
        let i = STATES.iter().position(|x| *x == s).unwrap_or(0);
        self.state.store(i as u8, Ordering::SeqCst);
    }

    /// Asks the task's thread to end (a SETCLUSTER no longer names it).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// True once stopped.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// One more core has drained its connections to the source Redis.
    pub fn core_drained(&self) {
        self.drained.fetch_add(1, Ordering::SeqCst);
    }

    /// Cores drained so far.
    pub fn drained(&self) -> usize {
        self.drained.load(Ordering::SeqCst)
    }

    /// Same identity (cluster, ranges, tag, meta) as `t`.
    pub fn is(&self, t: &MigrationTask) -> bool {
        self.task == *t
    }
}
