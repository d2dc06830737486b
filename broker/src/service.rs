//! The broker: one store behind one lock, changed copy-on-write.
//!
//! Every mutating call runs its operation on a copy of the store. Only when the operation
//! succeeds (or asks to keep its changes, see [`OpError`]) and — with `auto_update_meta_file`
//! on — the metadata file has been durably written, is the copy installed. So an error never
//! leaves a partial change, and a change a client saw succeed is on disk before the reply.
//! With external storage the copy is the document just read from the store, and installing it
//! is a versioned PUT. With etcd storage the copy is the cache at its etcd revision, and
//! installing it is a compare-and-put transaction (`etcd/sync.rs`).

use crate::config::{BrokerConfig, StorageType};
use crate::etcd::EtcdLink;
use crate::external::ExternalStore;
use crate::persist;
use crate::store::{self, MetaStore, OpError, Settings, StoreError};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Timings of the auto-scaling wait (spec 4.7), adjustable by tests.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// Pause between polls of the proxies' epochs.
    pub sync_poll_interval: Duration,
    /// Polls before giving up with `PROXY_NOT_SYNC`.
    pub sync_poll_attempts: u32,
    /// Timeout of one `UMCTL GETEPOCH`.
    pub getepoch_timeout: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            sync_poll_interval: Duration::from_secs(1),
            sync_poll_attempts: 30,
            getepoch_timeout: Duration::from_secs(1),
        }
    }
}

/// The broker's shared state; one per process, shared by every HTTP worker.
pub struct Broker {
    /// Settings the store operations read.
    pub settings: Settings,
    /// The whole config.
    pub config: BrokerConfig,
    /// Auto-scaling timings.
    pub tuning: Tuning,
    store: Mutex<MetaStore>,
    meta_file: Option<PathBuf>,
    external: Option<ExternalStore>,
    etcd: Option<EtcdLink>,
    write_lock: Mutex<()>,
    scale_lock: Mutex<()>,
    replicas: Mutex<Vec<String>>,
    /// API request counters (the metrics endpoint).
    pub http_metrics: crate::http::metrics::HttpMetrics,
}

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Broker {
    /// Builds the broker: loads the metadata file when asked, or initialises external storage.
    ///
    /// # Errors
    /// A message naming the metadata file when it cannot be loaded.
    pub fn new(config: BrokerConfig) -> Result<Self, String> {
        let settings = Settings {
            failure_ttl: config.failure_ttl,
            failure_quorum: config.failure_quorum,
            migration_limit: config.migration_limit,
            default_cluster_config: config.cluster_config,
        };
        let empty = MetaStore::new(config.enable_ordered_proxy);
        let mut external = None;
        let mut meta_file = None;
        let mut etcd = None;
        let store = match config.storage_type {
            StorageType::Etcd => {
                let (link, s) = EtcdLink::connect(&config, &empty);
                etcd = Some(link);
                s
            }
            StorageType::Http => {
                let ext = ExternalStore::new(
                    &config.http_storage_address,
                    &config.storage_name,
                    &config.storage_password,
                );
                let s = ext.init(&empty);
                external = Some(ext);
                s
            }
            StorageType::Memory => {
                let path = PathBuf::from(&config.meta_filename);
                let loaded = if config.recover_from_meta_file {
                    persist::load(&path)?
                } else {
                    None
                };
                meta_file = Some(path);
                match loaded {
                    Some(s) => {
                        if s.enable_ordered_proxy != config.enable_ordered_proxy {
                            log::warn!(
                                "metadata file says enable_ordered_proxy={}, config says {}; the file wins",
                                s.enable_ordered_proxy,
                                config.enable_ordered_proxy
                            );
                        }
                        s
                    }
                    None => empty,
                }
            }
        };
        Ok(Self {
            settings,
            tuning: Tuning::default(),
            replicas: Mutex::new(config.replica_addresses.clone()),
            config,
            store: Mutex::new(store),
            meta_file,
            external,
            etcd,
            write_lock: Mutex::new(()),
            scale_lock: Mutex::new(()),
            http_metrics: Default::default(),
        })
    }

    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, MetaStore>, StoreError> {
        self.store.lock().map_err(|_| StoreError::PersistenceLock)
    }

    /// Serialises this broker's writes to shared storage (waiting for the one in progress).
    pub(crate) fn write_lock(&self) -> Result<MutexGuard<'_, ()>, StoreError> {
        self.write_lock
            .lock()
            .map_err(|_| StoreError::PersistenceLock)
    }

    /// The etcd link, with etcd storage.
    pub fn etcd(&self) -> Option<&EtcdLink> {
        self.etcd.as_ref()
    }

    /// True when reads answer from a cache that may lag the shared storage (etcd is
    /// unreachable or the watch is reconnecting); the HTTP layer flags such answers.
    pub fn stale(&self) -> bool {
        self.etcd.as_ref().is_some_and(|l| l.health.stale())
    }

    /// Runs `f` on the current store (a read; with external storage, the cache).
    ///
    /// # Errors
    /// `PERSISTENCE_LOCK_ERROR` if a worker died holding the lock.
    pub fn read<T>(&self, f: impl FnOnce(&MetaStore) -> T) -> Result<T, StoreError> {
        Ok(f(&*self.lock()?))
    }

    /// A copy of the whole store.
    ///
    /// # Errors
    /// As [`Broker::read`].
    pub fn snapshot(&self) -> Result<MetaStore, StoreError> {
        self.read(Clone::clone)
    }

    /// Applies a mutating operation copy-on-write (see the module doc). With etcd storage
    /// `f` may run more than once, each time on fresher metadata, so it must not have side
    /// effects beyond the store it is given.
    ///
    /// # Errors
    /// The operation's error, a persistence error, with external storage `RETRY`,
    /// `EXTERNAL*`, with etcd `RETRY`, `STORAGE_UNAVAILABLE`.
    pub fn mutate<T>(
        &self,
        mut f: impl FnMut(&mut MetaStore) -> Result<T, OpError>,
    ) -> Result<T, StoreError> {
        if let Some(link) = &self.etcd {
            return self.mutate_etcd(link, f);
        }
        if let Some(ext) = &self.external {
            return self.mutate_external(ext, f);
        }
        let mut guard = self.lock()?;
        let mut copy = guard.clone();
        let result = f(&mut copy);
        let keep = match &result {
            Ok(_) => true,
            Err(e) => e.keep_changes,
        };
        if keep && copy != *guard {
            if self.config.auto_update_meta_file {
                if let Some(path) = &self.meta_file {
                    persist::write_atomic(path, &copy)?;
                }
            }
            *guard = copy;
        }
        result.map_err(|e| e.error)
    }

    fn mutate_external<T>(
        &self,
        ext: &ExternalStore,
        f: impl FnOnce(&mut MetaStore) -> Result<T, OpError>,
    ) -> Result<T, StoreError> {
        let _writing = match self.write_lock.try_lock() {
            Ok(g) => g,
            Err(TryLockError::WouldBlock) => return Err(StoreError::Retry),
            Err(TryLockError::Poisoned(_)) => return Err(StoreError::PersistenceLock),
        };
        let (version, fresh) = ext.get()?;
        let mut copy = fresh.clone();
        let result = f(&mut copy);
        let keep = match &result {
            Ok(_) => true,
            Err(e) => e.keep_changes,
        };
        if keep && copy != fresh {
            ext.put(Some(&version), &copy)?;
            *self.lock()? = copy;
        } else {
            *self.lock()? = fresh;
        }
        result.map_err(|e| e.error)
    }

    /// Replaces the whole store (`PUT /metadata`, replica sync) when it is not older.
    ///
    /// # Errors
    /// `INVALID_META_VERSION`, `EPOCH_SMALLER_THAN_CURRENT`, persistence errors.
    pub fn replace(&self, incoming: MetaStore) -> Result<(), StoreError> {
        if incoming.version != store::META_VERSION {
            return Err(StoreError::InvalidMetaVersion);
        }
        store::validate(&incoming).map_err(StoreError::Internal)?;
        if self.external.is_some() {
            // why: with external storage the store is the source of truth; only refresh the
            // cache when the incoming copy is newer (spec 4.11).
            let mut guard = self.lock()?;
            if incoming.global_epoch < guard.global_epoch {
                return Err(StoreError::EpochSmallerThanCurrent);
            }
            *guard = incoming;
            return Ok(());
        }
        self.mutate(|s| {
            if incoming.global_epoch < s.global_epoch {
                return Err(StoreError::EpochSmallerThanCurrent.into());
            }
            *s = incoming.clone();
            Ok(())
        })
    }

    /// Writes the metadata file now (the periodic writer).
    ///
    /// # Errors
    /// Persistence errors.
    pub fn persist_now(&self) -> Result<(), StoreError> {
        if let Some(path) = &self.meta_file {
            let guard = self.lock()?;
            persist::write_atomic(path, &guard)?;
        }
        Ok(())
    }

    /// Re-reads the external store into the cache (the refresh loop), dropping expired
    /// failure reports and writing that back (a lost race is retried next refresh).
    ///
    /// # Errors
    /// External storage errors.
    pub fn refresh_external(&self) -> Result<(), StoreError> {
        if self.external.is_some() || self.etcd.is_some() {
            let ttl = self.settings.failure_ttl;
            match self.mutate(|s| {
                store::prune_failures(s, now(), ttl);
                Ok::<(), OpError>(())
            }) {
                Ok(()) | Err(StoreError::Retry) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Takes the broker-wide scaling lock without waiting.
    ///
    /// # Errors
    /// `NODE_NUMBER_CHANGING` when another scaling operation holds it.
    pub fn scale_lock(&self) -> Result<MutexGuard<'_, ()>, StoreError> {
        match self.scale_lock.try_lock() {
            Ok(g) => Ok(g),
            Err(TryLockError::WouldBlock) => Err(StoreError::NodeNumberChanging),
            Err(TryLockError::Poisoned(_)) => Err(StoreError::PersistenceLock),
        }
    }

    /// Current replica addresses (runtime-changeable).
    pub fn replicas(&self) -> Vec<String> {
        self.replicas.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Replaces the replica addresses (`PUT /config`; not persisted).
    ///
    /// # Errors
    /// `PERSISTENCE_LOCK_ERROR`.
    pub fn set_replicas(&self, addrs: Vec<String>) -> Result<(), StoreError> {
        *self
            .replicas
            .lock()
            .map_err(|_| StoreError::PersistenceLock)? = addrs;
        Ok(())
    }
}
