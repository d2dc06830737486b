//! Registering and removing proxies, failure reports, and the free pool (spec 4.4, 4.8).

use super::alloc::Candidate;
use super::model::{MetaStore, ProxyResource};
use super::{OpError, Settings, StoreError};
use serde::Deserialize;

/// Body of `POST /proxies/meta`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddProxy {
    /// Proxy `host:port`.
    pub proxy_address: String,
    /// Its two Redis nodes.
    pub nodes: [String; 2],
    /// Machine; defaults to the address's host part.
    #[serde(default)]
    pub host: Option<String>,
    /// StatefulSet ordinal (required in ordered mode).
    #[serde(default)]
    pub index: Option<usize>,
}

/// Registers a proxy. Re-registering one that exists answers `ALREADY_EXISTED` but clears its
/// failed/failure state: that is how a recovered proxy is brought back (spec 4.8).
///
/// # Errors
/// `INVALID_PROXY_ADDRESS`, `MISSING_SERVER_PROXY_INDEX`, `ALREADY_EXISTED` (changes kept).
pub fn add_proxy(store: &mut MetaStore, req: AddProxy) -> Result<(), OpError> {
    let Some((host_part, port)) = req.proxy_address.split_once(':') else {
        return Err(StoreError::InvalidProxyAddress.into());
    };
    if port.contains(':') || host_part.is_empty() || port.is_empty() {
        return Err(StoreError::InvalidProxyAddress.into());
    }
    if store.enable_ordered_proxy && req.index.is_none() {
        return Err(StoreError::MissingServerProxyIndex.into());
    }
    if store.all_proxies.contains_key(&req.proxy_address) {
        let was_failed = store.failed_proxies.remove(&req.proxy_address);
        let had_reports = store.failures.remove(&req.proxy_address).is_some();
        if was_failed || had_reports {
            store.bump_global_epoch();
            return Err(OpError::keeping_changes(StoreError::AlreadyExisted));
        }
        return Err(StoreError::AlreadyExisted.into());
    }
    let host = req.host.unwrap_or_else(|| host_part.to_string());
    store.all_proxies.insert(
        req.proxy_address.clone(),
        ProxyResource {
            proxy_address: req.proxy_address,
            node_addresses: req.nodes,
            host,
            index: req.index.unwrap_or(0),
            cluster: None,
        },
    );
    store.bump_global_epoch();
    Ok(())
}

/// Unregisters a free proxy and forgets its failure state.
///
/// # Errors
/// `PROXY_NOT_FOUND`, `IN_USE`.
pub fn remove_proxy(store: &mut MetaStore, addr: &str) -> Result<(), OpError> {
    let res = store
        .all_proxies
        .get(addr)
        .ok_or(StoreError::ProxyNotFound)?;
    if res.cluster.is_some() {
        return Err(StoreError::InUse.into());
    }
    store.all_proxies.remove(addr);
    store.failed_proxies.remove(addr);
    store.failures.remove(addr);
    store.bump_global_epoch();
    Ok(())
}

/// Drops failure reports older than `ttl` seconds.
pub fn prune(store: &mut MetaStore, now: i64, ttl: u64) {
    let oldest = now.saturating_sub(i64::try_from(ttl).unwrap_or(i64::MAX));
    for reports in store.failures.values_mut() {
        reports.retain(|_, &mut t| t >= oldest);
    }
    store.failures.retain(|_, r| !r.is_empty());
}

/// Records a failure report once per (proxy, reporter); a new report bumps the global epoch.
pub fn report_failure(store: &mut MetaStore, addr: &str, reporter: &str, now: i64, ttl: u64) {
    prune(store, now, ttl);
    let reports = store.failures.entry(addr.to_string()).or_default();
    if !reports.contains_key(reporter) {
        reports.insert(reporter.to_string(), now);
        store.bump_global_epoch();
    }
}

/// Proxies with at least `failure_quorum` distinct reporters within `failure_ttl` that are
/// still registered.
pub fn failures(store: &MetaStore, now: i64, settings: &Settings) -> Vec<String> {
    let oldest = now.saturating_sub(i64::try_from(settings.failure_ttl).unwrap_or(i64::MAX));
    store
        .failures
        .iter()
        .filter(|(addr, _)| store.all_proxies.contains_key(*addr))
        .filter(|(_, r)| {
            let live = r.values().filter(|&&t| t >= oldest).count();
            u64::try_from(live).unwrap_or(u64::MAX) >= settings.failure_quorum.max(1)
        })
        .map(|(a, _)| a.clone())
        .collect()
}

/// True when `addr` has an unexpired failure report.
pub fn has_live_report(store: &MetaStore, addr: &str, now: i64, ttl: u64) -> bool {
    let oldest = now.saturating_sub(i64::try_from(ttl).unwrap_or(i64::MAX));
    store
        .failures
        .get(addr)
        .is_some_and(|r| r.values().any(|&t| t >= oldest))
}

/// Free proxies that may join a cluster: registered, unused, not failed, not reported.
pub fn free_candidates(store: &MetaStore, now: i64, ttl: u64) -> Vec<Candidate> {
    store
        .all_proxies
        .values()
        .filter(|p| p.cluster.is_none())
        .filter(|p| !store.failed_proxies.contains(&p.proxy_address))
        .filter(|p| !has_live_report(store, &p.proxy_address, now, ttl))
        .map(|p| Candidate {
            address: p.proxy_address.clone(),
            host: p.host.clone(),
        })
        .collect()
}
