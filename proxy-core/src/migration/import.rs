//! The destination side's task thread: once `PRESWITCH` has moved the task to PRE_SWITCH
//! (the cores now serve the range, pulling each key on demand), copy every remaining key of
//! the range from the source Redis with the scanner, under the same key locks as the pulls,
//! in one full SCAN pass; then the task is SWITCH_COMMITTED (`FINALSWITCH` is
//! accepted and `UMCTL INFOMGR` reports it).

use super::registry::Env;
use super::scan::{move_ranges, ScanConfig};
use super::stats::Counter;
use super::task::Task;
use super::MigrationState;
use control::model::MigrationConfig;
use std::time::Duration;

/// Wait between failed passes (source Redis unreachable) and state polls.
const RETRY: Duration = Duration::from_millis(5);

/// Runs the task until the copy is complete or the task is stopped.
pub fn run(task: &Task, env: &Env, cfg: &MigrationConfig) {
    let Some(meta) = task.meta().cloned() else {
        return;
    };
    while task.state() < MigrationState::PreSwitch {
        if task.stopped() {
            return;
        }
        std::thread::sleep(RETRY);
    }
    let scan = ScanConfig {
        scan_count: cfg.scan_count,
        scan_interval: Duration::from_micros(cfg.scan_interval),
        timeout: env.timeout,
    };
    let stop = || task.stopped();
    let ranges = &task.task.slot_range.range_list;
    loop {
        if task.stopped() {
            return;
        }
        env.stats.add(Counter::SrcRedisConn, 1);
        env.stats.add(Counter::DstRedisConn, 1);
        match move_ranges(
            &meta.src_node_address,
            &meta.dst_node_address,
            ranges,
            &scan,
            Some(&env.locks),
            &stop,
        ) {
            Ok(s) => {
                env.stats
                    .add(Counter::ScanLockSuccess, s.moved + s.already_there + s.gone);
                env.stats.add(Counter::ScanLockFailed, s.busy);
                if !task.stopped() {
                    task.set_state(MigrationState::SwitchCommitted);
                    crate::metrics::migration().range_done();
                    log::info!("migration {ranges}: copy complete ({s:?})");
                }
                return;
            }
            Err(e) => {
                log::warn!("migration {ranges}: scan failed, retrying: {e}");
                std::thread::sleep(RETRY);
            }
        }
    }
}
