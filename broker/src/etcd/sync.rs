//! The broker side of etcd storage: start-up, the compare-and-put mutation loop, and the
//! cache that the watch and the health probe feed. The cache is the broker's store plus the
//! etcd revision it was read at; it only ever moves forward in revision, whichever of a
//! committed write, a lost compare, the watch or the probe delivers a revision first.

use super::{decode_store, watch::Cache, EtcdClient, EtcdError, Health, Kv, TxnOutcome};
use crate::config::BrokerConfig;
use crate::service::Broker;
use crate::store::{MetaStore, OpError, StoreError};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Times an operation is re-run on fresh metadata after losing a compare before the client
/// gets `RETRY`. Writes of one broker are serialised by its write lock, so a loss means
/// another broker wrote in between; a handful of rounds absorbs any realistic burst.
const MAX_ATTEMPTS: usize = 16;

/// The link to etcd a broker keeps.
#[derive(Debug)]
pub struct EtcdLink {
    /// Requests for the metadata key.
    pub client: EtcdClient,
    /// Whether the cache can be trusted.
    pub health: Health,
    /// etcd `mod_revision` of the cached store; written only under the store lock.
    rev: AtomicI64,
}

fn unavailable(e: EtcdError) -> StoreError {
    match e {
        EtcdError::Unreachable(m) => StoreError::StorageUnavailable(m),
        EtcdError::Refused(m) => StoreError::External(m),
    }
}

impl EtcdLink {
    /// Connects, creating the key with `empty` when it is absent. Waits (retrying every
    /// second) until etcd answers: a broker that served an empty store before it ever
    /// reached etcd would tell coordinators that no cluster exists.
    pub fn connect(config: &BrokerConfig, empty: &MetaStore) -> (Self, MetaStore) {
        let key = format!("{}/metadata", config.etcd_prefix);
        let client = EtcdClient::new(config.etcd_endpoints.clone(), &key);
        loop {
            match Self::load_or_create(&client, empty) {
                Ok((rev, store)) => {
                    log::info!("etcd storage: key {key} at revision {rev}");
                    let link = Self {
                        client,
                        health: Health::default(),
                        rev: AtomicI64::new(rev),
                    };
                    link.health.set_reachable(true);
                    return (link, store);
                }
                Err(e) => log::warn!("etcd storage not ready: {e}; retrying in 1 s"),
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn load_or_create(client: &EtcdClient, empty: &MetaStore) -> Result<(i64, MetaStore), String> {
        let encoded = serde_json::to_vec(empty).map_err(|e| e.to_string())?;
        loop {
            match client.range().map_err(|e| e.to_string())? {
                (_, Some(kv)) => return Ok((kv.mod_revision, decode_store(&kv.value)?)),
                (_, None) => {
                    match client
                        .compare_and_put(0, Some(&encoded))
                        .map_err(|e| e.to_string())?
                    {
                        TxnOutcome::Committed(rev) => return Ok((rev, empty.clone())),
                        // Another broker created it first: read theirs.
                        TxnOutcome::Conflict(_) => {}
                    }
                }
            }
        }
    }
}

impl Cache for Broker {
    fn install(&self, kv: Option<Kv>) {
        let Some(link) = self.etcd() else { return };
        let (rev, store) = match kv {
            Some(kv) => match decode_store(&kv.value) {
                Ok(s) => (kv.mod_revision, s),
                Err(e) => {
                    log::error!("{e}; keeping the cached metadata");
                    return;
                }
            },
            None => {
                log::warn!("the metadata key was deleted from etcd; the next write recreates it");
                (0, MetaStore::new(self.config.enable_ordered_proxy))
            }
        };
        let Ok(mut guard) = self.lock() else { return };
        let current = link.rev.load(Ordering::SeqCst);
        // why: a deletion (rev 0) is the only way back; anything else must be newer.
        if rev > current || (rev == 0 && current != 0) {
            *guard = store;
            link.rev.store(rev, Ordering::SeqCst);
        }
    }
}

impl Broker {
    /// Runs a mutation as an etcd compare-and-put on the cached revision, re-running it on
    /// the current metadata whenever another broker wrote first (see the module doc).
    ///
    /// # Errors
    /// The operation's error; `STORAGE_UNAVAILABLE` (503) when etcd does not answer;
    /// `RETRY` after [`MAX_ATTEMPTS`] lost compares.
    pub(crate) fn mutate_etcd<T>(
        &self,
        link: &EtcdLink,
        mut f: impl FnMut(&mut MetaStore) -> Result<T, OpError>,
    ) -> Result<T, StoreError> {
        let _writing = self.write_lock()?;
        for _ in 0..MAX_ATTEMPTS {
            let (rev, base) = {
                let guard = self.lock()?;
                (link.rev.load(Ordering::SeqCst), guard.clone())
            };
            let mut copy = base.clone();
            let result = f(&mut copy);
            let keep = match &result {
                Ok(_) => true,
                Err(e) => e.keep_changes,
            };
            let changed = keep && copy != base;
            let encoded = if changed {
                Some(
                    serde_json::to_vec(&copy)
                        .map_err(|e| StoreError::PersistenceJson(e.to_string()))?,
                )
            } else {
                None
            };
            // why: even an operation that changed nothing confirms `rev` is current, so its
            // answer (e.g. PROXY_NOT_FOUND) is never based on a cache the watch has not
            // caught up yet.
            let outcome = link.client.compare_and_put(rev, encoded.as_deref());
            link.health.set_reachable(outcome.is_ok());
            match outcome.map_err(unavailable)? {
                TxnOutcome::Committed(new_rev) => {
                    if changed {
                        self.install(Some(Kv {
                            mod_revision: new_rev,
                            value: encoded.unwrap_or_default(),
                        }));
                    }
                    return result.map_err(|e| e.error);
                }
                TxnOutcome::Conflict(current) => self.install(current),
            }
        }
        Err(StoreError::Retry)
    }

    /// The health probe: a cheap revision read. Marks etcd reachable or not, and catches the
    /// cache up when it lags (a watch event that has not arrived yet, or a watch that is down).
    ///
    /// # Errors
    /// `STORAGE_UNAVAILABLE` when etcd does not answer.
    pub fn probe_etcd(&self) -> Result<(), StoreError> {
        let Some(link) = self.etcd() else {
            return Ok(());
        };
        let probed = link.client.revision();
        link.health.set_reachable(probed.is_ok());
        let rev = probed.map_err(unavailable)?;
        if rev != link.rev.load(Ordering::SeqCst) {
            let (_, kv) = link.client.range().map_err(unavailable)?;
            self.install(kv);
        }
        Ok(())
    }
}
