//! Background loops: the periodic metadata file write, the push to replicas, the external
//! store cache refresh, and with etcd the watch and the health probe. Each runs on its own
//! thread for the life of the process.

use crate::replica;
use crate::service::Broker;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Seconds between etcd health probes: how soon a broker notices etcd is gone (and flags its
/// reads stale) when no write has noticed first. One keys-only read per second is nothing
/// for etcd.
const ETCD_PROBE_INTERVAL: u64 = 1;

fn every(name: &str, secs: u64, broker: &Arc<Broker>, job: fn(&Broker)) {
    if secs == 0 {
        return;
    }
    let broker = broker.clone();
    let spawned = thread::Builder::new()
        .name(name.to_string())
        .spawn(move || loop {
            thread::sleep(Duration::from_secs(secs));
            job(&broker);
        });
    if let Err(e) = spawned {
        log::error!("cannot start {name} thread: {e}");
    }
}

/// Starts the loops the config asks for.
pub fn spawn(broker: &Arc<Broker>) {
    let c = &broker.config;
    if c.storage_type == crate::config::StorageType::Etcd {
        let b = broker.clone();
        let spawned = thread::Builder::new()
            .name("etcd-watch".into())
            .spawn(move || {
                if let Some(link) = b.etcd() {
                    crate::etcd::watch::run_forever(&link.client, &link.health, &*b);
                }
            });
        if let Err(e) = spawned {
            log::error!("cannot start etcd-watch thread: {e}");
        }
        every("etcd-probe", ETCD_PROBE_INTERVAL, broker, |b| {
            if let Err(e) = b.probe_etcd() {
                log::debug!("etcd probe: {e:?}");
            }
        });
    }
    if c.storage_type == crate::config::StorageType::Memory {
        every("meta-file", c.update_meta_file_interval, broker, |b| {
            if let Err(e) = b.persist_now() {
                log::error!("periodic metadata file write failed: {e:?}");
            }
        });
    } else {
        every("external-refresh", c.refresh_interval, broker, |b| {
            if let Err(e) = b.refresh_external() {
                log::warn!("external storage refresh failed: {e:?}");
            }
        });
    }
    every("replica-sync", c.sync_meta_interval, broker, |b| {
        for (replica, e) in replica::push_to_replicas(b) {
            log::warn!("metadata push to replica {replica} failed: {e:?}");
        }
    });
}
