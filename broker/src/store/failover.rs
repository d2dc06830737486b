//! Failover (spec 4.8): the surviving proxy of a chunk takes over both masters, then a free
//! proxy from the least-linked host replaces the failed one. Also rebalancing roles and the
//! "can every host fail?" check.

use super::cluster::link_table;
use super::model::{MetaStore, RolePosition};
use super::proxy::{free_candidates, has_live_report};
use super::{cluster_mut, view, OpError, Settings, StoreError};
use control::model::Proxy;
use std::collections::{BTreeMap, BTreeSet};

/// Fails a proxy over. A free proxy is just marked failed (`Ok(None)`). A proxy in a cluster:
/// its chunk peer takes both masters (migrations touching the chunk restart at the new epoch),
/// then a replacement is chosen and its view returned. Ordered mode stops after the takeover.
///
/// # Errors
/// `PROXY_NOT_FOUND`; `NO_AVAILABLE_RESOURCE` with the takeover kept (the replicas must be
/// promoted even when no replacement exists, or the slots stay down).
pub fn failover(
    store: &mut MetaStore,
    addr: &str,
    now: i64,
    settings: &Settings,
) -> Result<Option<Proxy>, OpError> {
    let res = store
        .all_proxies
        .get(addr)
        .ok_or(StoreError::ProxyNotFound)?;
    let Some(name) = res.cluster.clone() else {
        let had_reports = store.failures.remove(addr).is_some();
        let newly_failed = store.failed_proxies.insert(addr.to_string());
        if had_reports || newly_failed {
            store.bump_global_epoch();
        }
        return Ok(None);
    };
    let failed_host = res.host.clone();
    let (ci, side) = takeover(store, &name, addr)?;
    if store.enable_ordered_proxy {
        return Ok(None);
    }
    let survivor_host = cluster_mut(store, &name)?
        .chunks
        .get(ci)
        .and_then(|c| c.hosts.get(1 - side))
        .cloned()
        .unwrap_or_default();
    let Some(new) = pick_replacement(store, &failed_host, &survivor_host, now, settings) else {
        return Err(OpError::keeping_changes(StoreError::NoAvailableResource));
    };
    let new_res = store
        .all_proxies
        .get_mut(&new)
        .ok_or_else(|| StoreError::Internal("replacement vanished".into()))?;
    new_res.cluster = Some(name.clone());
    let (new_host, [n0, n1]) = (new_res.host.clone(), new_res.node_addresses.clone());
    if let Some(old) = store.all_proxies.get_mut(addr) {
        old.cluster = None;
    }
    store.failed_proxies.insert(addr.to_string());
    let epoch = store.bump_global_epoch();
    let cluster = cluster_mut(store, &name)?;
    cluster.epoch = epoch;
    let broken = || StoreError::Internal("chunk position out of range".into());
    let chunk = cluster.chunks.get_mut(ci).ok_or_else(broken)?;
    *chunk.proxy_addresses.get_mut(side).ok_or_else(broken)? = new.clone();
    *chunk.hosts.get_mut(side).ok_or_else(broken)? = new_host;
    *chunk.node_addresses.get_mut(side * 2).ok_or_else(broken)? = n0;
    *chunk
        .node_addresses
        .get_mut(side * 2 + 1)
        .ok_or_else(broken)? = n1;
    Ok(view::proxy_view(store, &new, settings.migration_limit)?)
}

/// Flips the failed proxy's chunk so its peer holds both masters; returns (chunk, side).
/// Already flipped: nothing changes (the coordinator repeats a failover every round while no
/// replacement exists; bumping epochs each time would restart the chunk's migrations).
fn takeover(store: &mut MetaStore, name: &str, addr: &str) -> Result<(usize, usize), StoreError> {
    let next_epoch = store.global_epoch.saturating_add(1);
    let cluster = cluster_mut(store, name)?;
    let (ci, side) = cluster
        .chunks
        .iter()
        .enumerate()
        .find_map(|(ci, c)| {
            c.proxy_addresses
                .iter()
                .position(|p| p == addr)
                .map(|side| (ci, side))
        })
        .ok_or_else(|| StoreError::Internal(format!("{addr} is not in cluster {name}")))?;
    let role = if side == 0 {
        RolePosition::SecondChunkMaster
    } else {
        RolePosition::FirstChunkMaster
    };
    match cluster.chunks.get_mut(ci) {
        Some(chunk) if chunk.role_position == role => return Ok((ci, side)),
        Some(chunk) => chunk.role_position = role,
        None => {}
    }
    let epoch = next_epoch;
    // why: the master behind a migration changed, so both proxies must restart the task; a
    // new epoch on the task is how they learn it.
    for m in cluster
        .chunks
        .iter_mut()
        .flat_map(|c| c.migrating_slots.iter_mut().flatten())
    {
        if m.meta.src_chunk_index == ci || m.meta.dst_chunk_index == ci {
            m.meta.epoch = epoch;
        }
    }
    cluster.epoch = epoch;
    store.global_epoch = epoch;
    Ok((ci, side))
}

/// A free proxy for the chunk whose other proxy lives on `survivor_host`: never on the failed
/// host nor on the survivor's host (the original allowed the latter, putting both proxies of a
/// chunk on one machine), on the host least linked to the survivor's host (the pair the
/// repaired chunk creates); ties go to the host with more free proxies.
fn pick_replacement(
    store: &MetaStore,
    failed_host: &str,
    survivor_host: &str,
    now: i64,
    settings: &Settings,
) -> Option<String> {
    let links = link_table(store);
    let mut by_host: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in free_candidates(store, now, settings.failure_ttl) {
        if c.host != failed_host && c.host != survivor_host {
            by_host.entry(c.host).or_default().push(c.address);
        }
    }
    by_host
        .into_iter()
        .min_by(|a, b| {
            links
                .get(survivor_host, &a.0)
                .cmp(&links.get(survivor_host, &b.0))
                .then_with(|| b.1.len().cmp(&a.1.len()))
                .then_with(|| a.0.cmp(&b.0))
        })
        .and_then(|(_, mut list)| {
            list.sort();
            list.into_iter().next()
        })
}

/// Restores `Normal` roles in every chunk whose proxies are neither failed nor reported.
///
/// # Errors
/// `CLUSTER_NOT_FOUND`.
pub fn balance(
    store: &mut MetaStore,
    name: &str,
    now: i64,
    settings: &Settings,
) -> Result<(), OpError> {
    cluster_mut(store, name)?;
    let healthy = |s: &MetaStore, p: &str| {
        !s.failed_proxies.contains(p) && !has_live_report(s, p, now, settings.failure_ttl)
    };
    let snapshot = store.clone();
    let cluster = cluster_mut(store, name)?;
    for chunk in &mut cluster.chunks {
        if chunk.proxy_addresses.iter().all(|p| healthy(&snapshot, p)) {
            chunk.role_position = RolePosition::Normal;
        }
    }
    let epoch = store.bump_global_epoch();
    cluster_mut(store, name)?.epoch = epoch;
    Ok(())
}

/// Hosts whose loss could not be fully repaired: on a copy, every proxy of the host fails at
/// once and each one in a cluster is failed over; a host is listed when a replacement is missing.
pub fn check_resources(store: &MetaStore, now: i64, settings: &Settings) -> Vec<String> {
    let hosts: BTreeSet<&String> = store.all_proxies.values().map(|p| &p.host).collect();
    let mut cannot = Vec::new();
    for host in hosts {
        let mut copy = store.clone();
        let on_host: Vec<String> = store
            .all_proxies
            .values()
            .filter(|p| &p.host == host)
            .map(|p| p.proxy_address.clone())
            .collect();
        copy.failed_proxies.extend(on_host.iter().cloned());
        let in_use: Vec<&String> = on_host
            .iter()
            .filter(|p| {
                store
                    .all_proxies
                    .get(*p)
                    .is_some_and(|r| r.cluster.is_some())
            })
            .collect();
        let fails = in_use.into_iter().any(|p| {
            matches!(failover(&mut copy, p, now, settings),
                Err(e) if e.error == StoreError::NoAvailableResource)
        });
        if fails {
            cannot.push(host.clone());
        }
    }
    cannot
}
