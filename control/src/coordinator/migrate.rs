//! Migration sync (spec 5.3 loop 4): ask every non-failed proxy which migrations it finished
//! (`UMCTL INFOMGR`), commit each to the broker (`PUT /clusters/migrations`), then push the new
//! metadata to the destination proxy and then the source, so the destination serves the slots
//! before the source stops.

use super::{sync, Ctx};
use crate::client::resp::Value;
use crate::model::MigrationTask;
use std::collections::HashSet;

/// One round.
pub fn round(ctx: &Ctx) {
    let (all, failed) = match (
        ctx.brokers.proxy_addresses(),
        ctx.brokers.failed_addresses(),
    ) {
        (Ok(a), Ok(f)) => (a, f.into_iter().collect::<HashSet<_>>()),
        (Err(e), _) | (_, Err(e)) => {
            super::stats::round_failed("migrate");
            return log::warn!("migrate: {e}");
        }
    };
    let targets: Vec<String> = all.into_iter().filter(|a| !failed.contains(a)).collect();
    let proxies = ctx.proxies.clone();
    let reports = ctx.workers.map(targets, move |addr| {
        match proxies.call(&addr, &["UMCTL", "INFOMGR"]) {
            Ok(Value::Array(lines)) => lines
                .iter()
                .filter_map(|l| parse_task(&l.text()))
                .collect::<Vec<_>>(),
            // why: a proxy without migration support answers an error; nothing finished there.
            Ok(_) | Err(_) => Vec::new(),
        }
    });
    let mut seen = HashSet::new();
    for task in reports.into_iter().flatten() {
        let Some(meta) = task.slot_range.tag.meta().cloned() else {
            continue;
        };
        let key = (
            task.cluster_name.clone(),
            task.slot_range.range_list.clone(),
            meta.clone(),
        );
        if !seen.insert(key) {
            continue;
        }
        if let Err(e) = ctx.brokers.commit_migration(&task) {
            log::warn!("migrate: commit failed: {e}");
            continue;
        }
        super::stats::migration_committed();
        log::info!(
            "migrate: committed {} {} -> {}",
            task.slot_range.range_list,
            meta.src_proxy_address,
            meta.dst_proxy_address
        );
        sync::push(ctx, &meta.dst_proxy_address);
        sync::push(ctx, &meta.src_proxy_address);
    }
}

/// Reads one INFOMGR line (the shared codec in `umctl::migration`).
fn parse_task(line: &str) -> Option<MigrationTask> {
    MigrationTask::parse_tokens(&mut line.split_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SlotRangeTag;

    #[test]
    fn parses_infomgr_lines() {
        let t = parse_task("db MIGRATING 1 0-4095 7 h:6001 h:7001 h:6003 h:7005").unwrap();
        assert_eq!(t.cluster_name.as_str(), "db");
        let m = t.slot_range.tag.meta().unwrap();
        assert_eq!((m.epoch, m.dst_node_address.as_str()), (7, "h:7005"));
        assert!(matches!(t.slot_range.tag, SlotRangeTag::Migrating(_)));
        assert!(parse_task("db MIGRATING 1 0-4095 7 h:6001").is_none());
        assert!(parse_task("db MOVING 1 0-4095 7 a b c d").is_none());
    }
}
