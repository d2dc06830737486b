//! Failure detection (spec 5.3 loop 1): PING every registered, not-failed proxy (free ones
//! too); a proxy that gives no reply at all in [`TRIES`] fresh connections is reported to the
//! broker as failed by this coordinator's `reporter_id`.

use super::Ctx;
use crate::client::resp;
use std::collections::HashSet;

/// Attempts before a proxy counts as down. why: one lost packet or a full accept queue must
/// not trigger a failover; a killed process refuses all three at once, so this costs nothing
/// when it really is down.
pub const TRIES: usize = 3;

/// One round.
pub fn round(ctx: &Ctx) {
    let (all, failed) = match (
        ctx.brokers.proxy_addresses(),
        ctx.brokers.failed_addresses(),
    ) {
        (Ok(a), Ok(f)) => (a, f.into_iter().collect::<HashSet<_>>()),
        (Err(e), _) | (_, Err(e)) => {
            super::stats::round_failed("detect");
            return log::warn!("detect: {e}");
        }
    };
    let targets: Vec<String> = all.into_iter().filter(|a| !failed.contains(a)).collect();
    let timeout = ctx.proxies.timeout;
    let results = ctx.workers.map(targets, move |addr| {
        let alive = (0..TRIES).any(|_| resp::call_once(&addr, &["PING"], timeout).is_ok());
        (addr, alive)
    });
    for (addr, alive) in results {
        if alive {
            continue;
        }
        log::warn!("detect: proxy {addr} is not responding; reporting it");
        super::stats::proxy_down();
        ctx.proxies.forget(&addr);
        if let Err(e) = ctx.brokers.report_failure(&addr, &ctx.config.reporter_id) {
            log::warn!("detect: cannot report {addr}: {e}");
        }
    }
}
