//! The source side's task thread (spec 3.2, our variant, see `docs/migration.md`): from the
//! moment the task exists the cores hold the range's requests; the thread waits until every
//! core has drained what it sent to the source Redis before, asks the destination to take
//! over (`PRECHECK`, then `PRESWITCH`), after which the cores answer `MOVED` to it. The copy
//! runs at the destination; `FINALSWITCH` is accepted there once the copy is complete, which
//! is when this side reports the task finished.

use super::registry::Env;
use super::task::Task;
use super::MigrationState;
use control::client::resp::{Conn, Value};
use control::umctl::SwitchArgs;
use std::time::Duration;

/// Pause between PRECHECK tries and between FINALSWITCH tries (the copy takes a while).
const SLOW_RETRY: Duration = Duration::from_millis(10);
/// Pause between PRESWITCH tries and drain polls (the range is held meanwhile).
const FAST_RETRY: Duration = Duration::from_millis(1);

/// Runs the task until SWITCH_COMMITTED or until it is stopped.
pub fn run(task: &Task, env: &Env) {
    let Some(args) = SwitchArgs::encode(&task.task) else {
        return;
    };
    let Some(dst) = task.meta().map(|m| m.dst_proxy_address.clone()) else {
        return;
    };
    while task.drained() < env.cores {
        if task.stopped() {
            return;
        }
        std::thread::sleep(FAST_RETRY);
    }
    let mut conn = None;
    for (cmd, next, pause) in [
        ("PRECHECK", MigrationState::PreBlocking, SLOW_RETRY),
        ("PRESWITCH", MigrationState::Scanning, FAST_RETRY),
        ("FINALSWITCH", MigrationState::SwitchCommitted, SLOW_RETRY),
    ] {
        loop {
            if task.stopped() {
                return;
            }
            if switch(&mut conn, &dst, cmd, &args, env) {
                break;
            }
            std::thread::sleep(pause);
        }
        task.set_state(next);
        log::info!(
            "migration {}: {} -> {}",
            task.task.slot_range.range_list,
            cmd,
            next.name()
        );
    }
}

/// Sends `UMCTL <cmd> <args>` to the destination proxy; true on a non-error reply.
fn switch(conn: &mut Option<Conn>, dst: &str, cmd: &str, args: &[String], env: &Env) -> bool {
    if conn.is_none() {
        *conn = Conn::connect(dst, env.timeout).ok().and_then(|mut c| {
            if let Some(pw) = &env.control_password {
                c.call(&["AUTH", pw.as_str()]).ok()?;
            }
            Some(c)
        });
    }
    let Some(c) = conn.as_mut() else {
        return false;
    };
    let mut full: Vec<&str> = vec!["UMCTL", cmd];
    full.extend(args.iter().map(String::as_str));
    match c.call(&full) {
        Ok(Value::Error(_)) => false,
        Ok(_) => true,
        Err(_) => {
            *conn = None;
            false
        }
    }
}
