//! Background loops: the periodic metadata file write, the push to replicas, and the external
//! store cache refresh. Each runs on its own thread for the life of the process.

use crate::replica;
use crate::service::Broker;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

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
