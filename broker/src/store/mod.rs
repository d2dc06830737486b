//! The metadata store and every operation on it, as pure functions over a [`MetaStore`].
//!
//! Nothing here does I/O or reads the clock: callers pass `now`. The service layer
//! ([`crate::service`]) runs each operation on a copy of the store and installs the copy only
//! when the operation succeeded (and, with persistence on, the file write did too), so a refused
//! call leaves no partial change behind.

pub mod alloc;
mod cluster;
mod epoch;
mod error;
mod failover;
pub mod model;
mod proxy;
mod scale;
mod slots;
pub mod view;

pub use cluster::{create_cluster, delete_cluster, patch_config};
pub use epoch::{recover_epoch, set_epoch};
pub use error::{OpError, StoreError};
pub use failover::{balance, check_resources, failover};
pub use model::{MetaStore, META_VERSION};
pub use proxy::{
    add_proxy, failures, free_candidates, prune as prune_failures, remove_proxy, report_failure,
    AddProxy,
};
pub use scale::{add_nodes, commit_migration, delete_free_nodes, expand, set_node_number, shrink};

use control::model::ClusterConfig;

/// Broker settings the operations depend on (spec 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Seconds a failure report counts.
    pub failure_ttl: u64,
    /// Distinct reporters needed.
    pub failure_quorum: u64,
    /// Visible migrations per cluster, 0 = all.
    pub migration_limit: u64,
    /// Config of new clusters.
    pub default_cluster_config: ClusterConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            failure_ttl: 60,
            failure_quorum: 1,
            migration_limit: 1,
            default_cluster_config: ClusterConfig::default(),
        }
    }
}

/// Looks a cluster up by a name taken from a path.
///
/// # Errors
/// `INVALID_CLUSTER_NAME` for a malformed name, `CLUSTER_NOT_FOUND` when absent.
pub fn cluster_mut<'a>(
    store: &'a mut MetaStore,
    name: &str,
) -> Result<&'a mut model::ClusterStore, StoreError> {
    check_name(name)?;
    store
        .clusters
        .get_mut(name)
        .ok_or(StoreError::ClusterNotFound)
}

/// Validates a cluster name from a path or body.
///
/// # Errors
/// `INVALID_CLUSTER_NAME`.
pub fn check_name(name: &str) -> Result<(), StoreError> {
    match control::model::ClusterName::new(name) {
        Ok(n) if !n.is_empty() => Ok(()),
        _ => Err(StoreError::InvalidClusterName),
    }
}

/// Checks a loaded or received store for references the views would trip on.
///
/// # Errors
/// A message naming the first inconsistency.
pub fn validate(store: &MetaStore) -> Result<(), String> {
    for (name, cluster) in &store.clusters {
        if cluster.name != *name {
            return Err(format!("cluster `{name}` stored under another name"));
        }
        check_name(name).map_err(|_| format!("invalid cluster name `{name}`"))?;
        for chunk in &cluster.chunks {
            for part in &chunk.migrating_slots {
                for m in part {
                    let x = &m.meta;
                    if x.src_chunk_index >= cluster.chunks.len()
                        || x.dst_chunk_index >= cluster.chunks.len()
                        || x.src_chunk_part > 1
                        || x.dst_chunk_part > 1
                    {
                        return Err(format!("cluster `{name}`: migration points outside it"));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;
