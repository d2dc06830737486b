//! Creating and deleting clusters, allocating chunks for them, and changing their config.

use super::alloc::{allocate, AllocError, Candidate, LinkTable};
use super::model::{ChunkStore, ClusterStore, MetaStore, RolePosition};
use super::proxy::free_candidates;
use super::{check_name, cluster_mut, slots, OpError, Settings, StoreError};
use control::model::{ConfigFieldError, SlotRange};
use std::collections::BTreeMap;

/// Existing chunks per host pair, over every cluster.
pub fn link_table(store: &MetaStore) -> LinkTable {
    let mut links = LinkTable::default();
    for chunk in store.clusters.values().flat_map(|c| &c.chunks) {
        links.add(&chunk.hosts[0], &chunk.hosts[1]);
    }
    links
}

/// Checks a requested node number: positive multiple of 4, and not absurd.
///
/// # Errors
/// `INVALID_NODE_NUMBER`.
pub fn check_node_number(n: u64) -> Result<usize, StoreError> {
    // why: 16384 masters is one slot each; more nodes than that cannot all get slots.
    if n == 0 || !n.is_multiple_of(4) || n > 2 * 16384 {
        return Err(StoreError::InvalidNodeNumber);
    }
    usize::try_from(n).map_err(|_| StoreError::InvalidNodeNumber)
}

/// Picks free proxies for `node_number` more nodes of a cluster that has `existing_proxies`
/// proxies, marks them as used by `cluster`, and returns the new slotless chunks.
///
/// # Errors
/// `NO_AVAILABLE_RESOURCE`, `RESOURCE_NOT_BALANCE`, `PROXY_RESOURCE_OUT_OF_ORDER`.
pub fn allocate_chunks(
    store: &mut MetaStore,
    cluster: &str,
    node_number: usize,
    existing_proxies: usize,
    now: i64,
    settings: &Settings,
) -> Result<Vec<ChunkStore>, StoreError> {
    let needed = node_number / 2;
    let candidates = free_candidates(store, now, settings.failure_ttl);
    let pairs = if store.enable_ordered_proxy {
        ordered_pairs(store, candidates, existing_proxies, needed)?
    } else {
        let mut links = link_table(store);
        allocate(&candidates, &mut links, needed).map_err(|e| match e {
            AllocError::NoResource => StoreError::NoAvailableResource,
            AllocError::NotBalanced => StoreError::ResourceNotBalance,
        })?
    };
    let mut chunks = Vec::with_capacity(pairs.len());
    for [a, b] in pairs {
        let na = mark_used(store, &a.address, cluster)?;
        let nb = mark_used(store, &b.address, cluster)?;
        let [n0, n1] = na;
        let [n2, n3] = nb;
        chunks.push(ChunkStore {
            role_position: RolePosition::Normal,
            stable_slots: [None, None],
            migrating_slots: [Vec::new(), Vec::new()],
            proxy_addresses: [a.address, b.address],
            hosts: [a.host, b.host],
            node_addresses: [n0, n1, n2, n3],
        });
    }
    Ok(chunks)
}

fn mark_used(store: &mut MetaStore, addr: &str, cluster: &str) -> Result<[String; 2], StoreError> {
    let res = store
        .all_proxies
        .get_mut(addr)
        .ok_or_else(|| StoreError::Internal(format!("allocated unknown proxy {addr}")))?;
    if res.cluster.is_some() {
        return Err(StoreError::Internal(format!("allocated used proxy {addr}")));
    }
    res.cluster = Some(cluster.to_string());
    Ok(res.node_addresses.clone())
}

/// Ordered mode (spec 4.12): the proxies with indices `start..start+needed`, paired (2k, 2k+1).
fn ordered_pairs(
    store: &MetaStore,
    candidates: Vec<Candidate>,
    start: usize,
    needed: usize,
) -> Result<Vec<[Candidate; 2]>, StoreError> {
    let mut by_index: BTreeMap<usize, Candidate> = BTreeMap::new();
    for c in candidates {
        if let Some(p) = store.all_proxies.get(&c.address) {
            by_index.insert(p.index, c);
        }
    }
    if by_index.len() < needed {
        return Err(StoreError::NoAvailableResource);
    }
    let mut picked = Vec::with_capacity(needed);
    for i in start..start + needed {
        picked.push(
            by_index
                .remove(&i)
                .ok_or(StoreError::ProxyResourceOutOfOrder)?,
        );
    }
    let mut out = Vec::with_capacity(needed / 2);
    let mut it = picked.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push([a, b]);
    }
    Ok(out)
}

/// Creates a cluster of `node_number` nodes with every slot spread evenly over its masters.
///
/// # Errors
/// `INVALID_CLUSTER_NAME`, `ALREADY_EXISTED`, `INVALID_NODE_NUMBER`,
/// `ONE_CLUSTER_ALREADY_EXISTED`, and the allocation errors.
pub fn create_cluster(
    store: &mut MetaStore,
    name: &str,
    node_number: u64,
    now: i64,
    settings: &Settings,
) -> Result<(), OpError> {
    check_name(name)?;
    if store.clusters.contains_key(name) {
        return Err(StoreError::AlreadyExisted.into());
    }
    let n = check_node_number(node_number)?;
    if store.enable_ordered_proxy && !store.clusters.is_empty() {
        return Err(StoreError::OneClusterAlreadyExisted.into());
    }
    let mut chunks = allocate_chunks(store, name, n, 0, now, settings)?;
    let ranges = slots::initial_ranges(chunks.len() * 2);
    let mut ranges = ranges.into_iter();
    for chunk in &mut chunks {
        for part in &mut chunk.stable_slots {
            *part = ranges.next().map(SlotRange::stable);
        }
    }
    let epoch = store.bump_global_epoch();
    store.clusters.insert(
        name.to_string(),
        ClusterStore {
            epoch,
            name: name.to_string(),
            chunks,
            config: settings.default_cluster_config,
        },
    );
    Ok(())
}

/// Deletes a cluster; its proxies become free.
///
/// # Errors
/// `INVALID_CLUSTER_NAME`, `CLUSTER_NOT_FOUND`.
pub fn delete_cluster(store: &mut MetaStore, name: &str) -> Result<(), OpError> {
    cluster_mut(store, name)?;
    store.clusters.remove(name);
    for p in store.all_proxies.values_mut() {
        if p.cluster.as_deref() == Some(name) {
            p.cluster = None;
        }
    }
    store.bump_global_epoch();
    Ok(())
}

/// Applies flat config fields (`PATCH /clusters/config/<name>`), all or none.
///
/// # Errors
/// `CLUSTER_NOT_FOUND`, `MIGRATION_RUNNING`, `INVALID_CONFIG`.
pub fn patch_config(
    store: &mut MetaStore,
    name: &str,
    fields: &BTreeMap<String, String>,
) -> Result<(), OpError> {
    let cluster = cluster_mut(store, name)?;
    if cluster.is_migrating() {
        return Err(StoreError::MigrationRunning.into());
    }
    let mut config = cluster.config;
    for (key, value) in fields {
        config
            .set_field(key, value)
            .map_err(|e| StoreError::InvalidConfig {
                key: key.clone(),
                value: value.clone(),
                message: match e {
                    ConfigFieldError::UnknownField(_) => "FIELD_NOT_FOUND",
                    ConfigFieldError::InvalidValue { .. } => "INVALID_VALUE",
                },
            })?;
    }
    cluster.config = config;
    let epoch = store.bump_global_epoch();
    if let Some(c) = store.clusters.get_mut(name) {
        c.epoch = epoch;
    }
    Ok(())
}
