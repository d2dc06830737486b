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
    let timeout = ctx.proxies.timeout;
    let results = ctx.workers.map(failures, move |addr| {
        // why: reports live for `failure_ttl`; a proxy restarted since it was reported is
        // serving again (the sync loop gives it its metadata), and failing it over now would
        // race that push and leave it serving a cluster it was removed from (chaos test).
        if answers(&addr, timeout) {
            return (addr, Err(Skip::Alive));
        }
        let r = brokers.failover(&addr).map_err(Skip::Broker);
        (addr, r)
    });
    for (addr, r) in results {
        super::stats::failover(r.is_ok());
        match r {
            Err(Skip::Alive) => {
                log::info!("failover: {addr} is reported but answers again; not failing it over");
            }
            Ok(Some(replacement)) => {
                log::warn!("failover: {addr} failed over, replaced by {replacement}");
            }
            Ok(None) => log::info!("failover: {addr} marked failed (no replacement needed)"),
            // why: 409 NO_AVAILABLE_RESOURCE keeps the promotion, which must still be pushed;
            // the replacement is retried next round.
            Err(Skip::Broker(e)) => log::warn!("failover: {addr}: {e}"),
        }
    }
    sync::round(ctx);
}

enum Skip {
    Alive,
    Broker(super::broker::BrokerError),
}

/// One liveness probe ([`super::detect::answers`]). why one: detection already tried several
/// times; a dead process refuses at once, a hung one costs one timeout, not three.
fn answers(addr: &str, timeout: std::time::Duration) -> bool {
    super::detect::answers(addr, timeout)
}
