//! `UMCTL STATS` migration counters (spec 2.11): the original's 22 names, process-wide,
//! bumped only by migration work (pulls, scanner batches), never by ordinary requests.
//! Counters of steps our design does not have (UMSYNC, see `docs/migration.md`) stay 0.

use std::sync::atomic::{AtomicU64, Ordering};

/// The counter names in the order `UMCTL STATS` prints them.
pub const NAMES: [&str; 22] = [
    "migrating_src_redis_conn",
    "migrating_dst_redis_conn",
    "migrating_active_sync_lock_success",
    "migrating_active_sync_lock_failed",
    "migrating_scan_lock_success",
    "migrating_scan_lock_failed",
    "importing_blocking_migration_commands",
    "importing_non_blocking_migration_commands",
    "importing_umsync_lock_success",
    "importing_umsync_lock_failed",
    "importing_umsync_lock_failed_again",
    "importing_umsync_failed",
    "importing_dst_key_existed",
    "importing_dst_key_not_existed",
    "importing_lock_success",
    "importing_lock_failed",
    "importing_resend_exists",
    "importing_resend_exists_failed",
    "importing_lock_loop_retry",
    "importing_src_key_existed",
    "importing_src_key_not_existed",
    "importing_src_failed",
];

/// Index of each counter in [`NAMES`].
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub enum Counter {
    SrcRedisConn = 0,
    DstRedisConn = 1,
    ScanLockSuccess = 4,
    ScanLockFailed = 5,
    BlockingCommands = 6,
    NonBlockingCommands = 7,
    DstKeyExisted = 12,
    LockSuccess = 14,
    LockFailed = 15,
    LockLoopRetry = 18,
    SrcKeyExisted = 19,
    SrcKeyNotExisted = 20,
    SrcFailed = 21,
}

/// The counters.
#[derive(Debug, Default)]
pub struct MigrationStats {
    values: [AtomicU64; 22],
}

impl MigrationStats {
    /// Adds `n` to `c`.
    pub fn add(&self, c: Counter, n: u64) {
        if let Some(v) = self.values.get(c as usize) {
            v.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// `# Migration` then `<name>: <n>` per counter.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec!["# Migration".to_string()];
        for (name, v) in NAMES.iter().zip(&self.values) {
            out.push(format!("{name}: {}", v.load(Ordering::Relaxed)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_every_counter() {
        let s = MigrationStats::default();
        s.add(Counter::SrcKeyExisted, 2);
        let l = s.lines();
        assert_eq!(l.len(), 23);
        assert_eq!(l[0], "# Migration");
        assert!(l.contains(&"importing_src_key_existed: 2".to_string()));
        assert_eq!(l[22], "importing_src_failed: 0");
    }
}
