//! Operations that must ask the proxies something, so they run outside the store lock:
//! auto scaling (waits for the proxies to reach the cluster epoch, spec 4.7) and epoch
//! recovery (raises every epoch above what any proxy reports, spec 4.9).

use crate::resp;
use crate::service::Broker;
use crate::store::{self, OpError, StoreError};
use std::collections::BTreeSet;
use std::thread;

/// Proxies asked at once during epoch recovery; bounds the threads spawned.
const PARALLEL_QUERIES: usize = 32;

/// `POST /clusters/migrations/auto/<name>/<n>`: drop slotless chunks, add chunks up to `n`
/// nodes, wait until the cluster's proxies have its epoch, then expand; or shrink to `n`.
///
/// # Errors
/// `CLUSTER_NOT_FOUND`, `MIGRATION_RUNNING`, `INVALID_NODE_NUMBER`, `NO_AVAILABLE_RESOURCE`,
/// `NODE_NUMBER_CHANGING`, `PROXY_NOT_SYNC` (the added chunks stay: they are valid on their own).
pub fn auto_scale(broker: &Broker, name: &str, n: u64) -> Result<(), StoreError> {
    store::check_name(name)?;
    if n == 0 || !n.is_multiple_of(4) {
        return Err(StoreError::InvalidNodeNumber);
    }
    let _scaling = broker.scale_lock()?;
    let now = crate::service::now();
    let settings = broker.settings;
    let current = broker.mutate(|s| {
        let cluster = store::cluster_mut(s, name)?;
        if cluster.is_migrating() {
            return Err(StoreError::MigrationRunning.into());
        }
        match store::delete_free_nodes(s, name) {
            Ok(()) => {}
            Err(e) if e.error == StoreError::FreeNodeNotFound => {}
            Err(e) => return Err(e),
        }
        let current = (store::cluster_mut(s, name)?.chunks.len() as u64) * 4;
        if n > current {
            store::add_nodes(s, name, n - current, now, &settings)?;
        }
        Ok::<u64, OpError>(current)
    })?;
    if n > current {
        wait_for_sync(broker, name)?;
        let with_slots = broker.read(|s| {
            s.clusters
                .get(name)
                .map(|c| store::view::cluster_info(c, 0).map(|i| i.node_number_with_slots))
        })?;
        let with_slots = with_slots.ok_or(StoreError::ClusterNotFound)??;
        if (with_slots as u64) < n {
            broker.mutate(|s| store::expand(s, name))?;
        }
    } else if n < current {
        broker.mutate(|s| store::shrink(s, name, n))?;
    }
    Ok(())
}

fn wait_for_sync(broker: &Broker, name: &str) -> Result<(), StoreError> {
    let t = broker.tuning;
    for attempt in 0..t.sync_poll_attempts {
        let (epoch, proxies) = broker
            .read(|s| {
                s.clusters.get(name).map(|c| {
                    let proxies: BTreeSet<String> = c
                        .chunks
                        .iter()
                        .flat_map(|ch| ch.proxy_addresses.iter().cloned())
                        .collect();
                    (c.epoch, proxies)
                })
            })?
            .ok_or(StoreError::ClusterNotFound)?;
        let synced = proxies
            .iter()
            .all(|p| resp::get_epoch(p, t.getepoch_timeout).is_ok_and(|e| e >= epoch));
        if synced {
            return Ok(());
        }
        log::info!("auto scaling {name}: proxies not at epoch {epoch} yet (poll {attempt})");
        thread::sleep(t.sync_poll_interval);
    }
    Err(StoreError::ProxyNotSync)
}

/// `PUT /epoch/recovery`: asks every registered proxy for its epoch and raises the global and
/// every cluster epoch above the largest answer. Returns the proxies that did not answer.
///
/// # Errors
/// Store errors only; unreachable proxies are reported, not fatal.
pub fn recover_epoch(broker: &Broker) -> Result<Vec<String>, StoreError> {
    let proxies: Vec<String> = broker.read(|s| s.all_proxies.keys().cloned().collect())?;
    let timeout = broker.tuning.getepoch_timeout;
    let mut answers = Vec::with_capacity(proxies.len());
    for batch in proxies.chunks(PARALLEL_QUERIES) {
        thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|p| scope.spawn(move || (p.clone(), resp::get_epoch(p, timeout).ok())))
                .collect();
            for h in handles {
                if let Ok(a) = h.join() {
                    answers.push(a);
                }
            }
        });
    }
    let largest = answers.iter().filter_map(|(_, e)| *e).max().unwrap_or(0);
    let failed: Vec<String> = answers
        .into_iter()
        .filter(|(_, e)| e.is_none())
        .map(|(p, _)| p)
        .collect();
    broker.mutate(|s| Ok::<u64, OpError>(store::recover_epoch(s, largest)))?;
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;
    use crate::service::Tuning;
    use crate::store::AddProxy;
    use std::time::Duration;

    #[test]
    fn proxies_that_never_sync_give_proxy_not_sync_and_keep_the_added_nodes() {
        let mut broker = Broker::new(BrokerConfig::default()).unwrap();
        broker.tuning = Tuning {
            sync_poll_interval: Duration::from_millis(10),
            sync_poll_attempts: 3,
            getepoch_timeout: Duration::from_millis(200),
        };
        for (i, host) in ["h1", "h2", "h3", "h4"].iter().enumerate() {
            // Port 1 on loopback: nothing listens, the connection is refused at once.
            let addr = format!("127.0.0.{}:1", i + 1);
            broker
                .mutate(|s| {
                    store::add_proxy(
                        s,
                        AddProxy {
                            proxy_address: addr.clone(),
                            nodes: [format!("{addr}0"), format!("{addr}1")],
                            host: Some((*host).to_string()),
                            index: None,
                        },
                    )
                })
                .unwrap();
        }
        let st = broker.settings;
        broker
            .mutate(|s| store::create_cluster(s, "c", 4, 0, &st))
            .unwrap();
        let e = auto_scale(&broker, "c", 8).unwrap_err();
        assert_eq!((e.code(), e.status()), ("PROXY_NOT_SYNC", 500));
        let chunks = broker.read(|s| s.clusters["c"].chunks.len()).unwrap();
        assert_eq!(chunks, 2);
    }
}
