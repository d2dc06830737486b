//! Failure handling (spec 5.3 loop 2): ask the broker which proxies are confirmed failed
//! (quorum of reporters within the TTL) and ask it to fail each over. The broker promotes the
//! surviving replicas and assigns a replacement; this loop then pushes the new metadata at
//! once instead of waiting for the next sync round, since every slot of the failed proxy is
//! unserved until the survivors learn their new roles.

use super::{sync, Ctx};

/// One round.
pub fn round(ctx: &Ctx) {
    let failures = match ctx.brokers.failures() {
        Ok(f) => f,
        Err(e) => {
            super::stats::round_failed("failover");
            return log::warn!("failover: {e}");
        }
    };
    if failures.is_empty() {
        return;
    }
    let brokers = ctx.brokers.clone();
    let results = ctx.workers.map(failures, move |addr| {
        let r = brokers.failover(&addr);
        (addr, r)
    });
    for (addr, r) in results {
        super::stats::failover(r.is_ok());
        match r {
            Ok(Some(replacement)) => {
                log::warn!("failover: {addr} failed over, replaced by {replacement}");
            }
            Ok(None) => log::info!("failover: {addr} marked failed (no replacement needed)"),
            // why: 409 NO_AVAILABLE_RESOURCE keeps the promotion, which must still be pushed;
            // the replacement is retried next round.
            Err(e) => log::warn!("failover: {addr}: {e}"),
        }
    }
    sync::round(ctx);
}
