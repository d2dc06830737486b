//! Scenario tests of the store operations, without HTTP.

use super::testutil::store_with;
use super::*;
use control::model::{MigrationTask, Role, SlotRangeTag};

const NOW: i64 = 1_000_000;

fn settings(limit: u64) -> Settings {
    Settings {
        migration_limit: limit,
        ..Settings::default()
    }
}

fn masters(store: &MetaStore, name: &str, limit: u64) -> Vec<(String, String)> {
    let c = view::cluster_view(&store.clusters[name], limit).unwrap();
    c.nodes
        .iter()
        .filter(|n| n.repl.role == Role::Master)
        .map(|n| {
            let text: Vec<String> = n.slots.iter().map(|s| s.to_text()).collect();
            (n.proxy_address.clone(), text.join(" | "))
        })
        .collect()
}

fn tasks(store: &MetaStore, name: &str) -> Vec<MigrationTask> {
    let c = view::cluster_view(&store.clusters[name], 0).unwrap();
    c.nodes
        .iter()
        .flat_map(|n| &n.slots)
        .filter(|s| matches!(s.tag, SlotRangeTag::Migrating(_)))
        .map(|s| MigrationTask {
            cluster_name: c.name.clone(),
            slot_range: s.clone(),
        })
        .collect()
}

#[test]
fn create_gives_two_masters_on_two_hosts_with_crossed_replicas() {
    let mut s = store_with(&["h1", "h2", "h3"], 2);
    assert_eq!(s.global_epoch, 6);
    create_cluster(&mut s, "mycluster", 4, NOW, &settings(1)).unwrap();
    assert_eq!(s.global_epoch, 7);
    let c = view::cluster_view(&s.clusters["mycluster"], 1).unwrap();
    assert_eq!(c.epoch, 7);
    assert_eq!(c.nodes.len(), 4);
    let m = masters(&s, "mycluster", 1);
    assert_eq!(m[0].1, "1 0-8191");
    assert_eq!(m[1].1, "1 8192-16383");
    assert_ne!(m[0].0, m[1].0);
    let chunk = &s.clusters["mycluster"].chunks[0];
    assert_ne!(chunk.hosts[0], chunk.hosts[1]);
    for n in &c.nodes {
        assert_eq!(n.repl.peers.len(), 1);
        assert_ne!(n.repl.peers[0].proxy_address, n.proxy_address);
    }
    let p = view::proxy_view(&s, &m[0].0, 1).unwrap().unwrap();
    assert_eq!(p.nodes.len(), 2);
    assert_eq!(p.peers.len(), 1);
    assert_eq!(p.epoch, 7);
}

#[test]
fn creation_refusals_leave_no_trace() {
    let mut s = store_with(&["h1"], 2);
    let st = settings(1);
    let e = |r: Result<(), OpError>| r.unwrap_err().error;
    assert_eq!(
        e(create_cluster(&mut s, "bad.name", 4, NOW, &st)),
        StoreError::InvalidClusterName
    );
    assert_eq!(
        e(create_cluster(&mut s, "c", 6, NOW, &st)),
        StoreError::InvalidNodeNumber
    );
    assert_eq!(
        e(create_cluster(&mut s, "c", 0, NOW, &st)),
        StoreError::InvalidNodeNumber
    );
    // Both proxies on one host: no anti-affine placement.
    assert_eq!(
        e(create_cluster(&mut s, "c", 4, NOW, &st)),
        StoreError::NoAvailableResource
    );
    assert!(s.all_proxies.values().all(|p| p.cluster.is_none()));
}

#[test]
fn expand_limit_commit_shrink_and_free_nodes() {
    let mut s = store_with(&["h1", "h2", "h3", "h4"], 1);
    let st = settings(1);
    create_cluster(&mut s, "c", 4, NOW, &st).unwrap();
    let added = add_nodes(&mut s, "c", 4, NOW, &st).unwrap();
    assert_eq!(added.len(), 4);
    assert_eq!(
        set_node_number(&mut s, "c", 8, NOW, &st).unwrap_err().error,
        StoreError::NodeNumAlreadyEnough
    );
    expand(&mut s, "c").unwrap();
    assert_eq!(
        expand(&mut s, "c").unwrap_err().error,
        StoreError::MigrationRunning
    );
    let tagged = |limit| {
        masters(&s, "c", limit)
            .iter()
            .filter(|m| m.1.contains("migrating") || m.1.contains("importing"))
            .count()
    };
    assert_eq!(tagged(0), 4);
    assert_eq!(tagged(1), 2);
    let m = masters(&s, "c", 0);
    assert!(
        m[0].1.starts_with("1 0-4095 | migrating 1 4096-8191"),
        "{m:?}"
    );
    assert!(
        m[1].1.starts_with("1 8192-12287 | migrating 1 12288-16383"),
        "{m:?}"
    );
    // Limit 1: the hidden migration still shows as stable on its source.
    let m1 = masters(&s, "c", 1);
    assert_eq!(m1[1].1, "1 8192-16383");
    for t in tasks(&s, "c") {
        commit_migration(&mut s, &t).unwrap();
        assert_eq!(
            commit_migration(&mut s, &t).unwrap_err().error,
            StoreError::MigrationTaskNotFound
        );
    }
    let m = masters(&s, "c", 1);
    let text: Vec<&str> = m.iter().map(|x| x.1.as_str()).collect();
    assert_eq!(
        text,
        ["1 0-4095", "1 8192-12287", "1 4096-8191", "1 12288-16383"]
    );
    assert_eq!(
        expand(&mut s, "c").unwrap_err().error,
        StoreError::SlotsAlreadyEven
    );
    assert_eq!(
        shrink(&mut s, "c", 8).unwrap_err().error,
        StoreError::InvalidNodeNumber
    );
    shrink(&mut s, "c", 4).unwrap();
    assert_eq!(
        delete_free_nodes(&mut s, "c").unwrap_err().error,
        StoreError::MigrationRunning
    );
    for t in tasks(&s, "c") {
        commit_migration(&mut s, &t).unwrap();
    }
    let m = masters(&s, "c", 1);
    assert_eq!(
        m[0].1,
        "2 0-4095 4096-8191".replace("2 0-4095 4096-8191", "1 0-8191")
    );
    delete_free_nodes(&mut s, "c").unwrap();
    assert_eq!(s.clusters["c"].chunks.len(), 1);
    assert_eq!(
        delete_free_nodes(&mut s, "c").unwrap_err().error,
        StoreError::FreeNodeNotFound
    );
    assert_eq!(
        s.all_proxies
            .values()
            .filter(|p| p.cluster.is_none())
            .count(),
        2
    );
}

#[test]
fn failover_replaces_from_free_pool_and_keeps_takeover_without_one() {
    let mut s = store_with(&["h1", "h2", "h3"], 1);
    let st = settings(1);
    create_cluster(&mut s, "c", 4, NOW, &st).unwrap();
    let failed = s.clusters["c"].chunks[0].proxy_addresses[0].clone();
    let survivor = s.clusters["c"].chunks[0].proxy_addresses[1].clone();
    let free: Vec<String> = s
        .all_proxies
        .values()
        .filter(|p| p.cluster.is_none())
        .map(|p| p.proxy_address.clone())
        .collect();
    let p = failover(&mut s, &failed, NOW, &st).unwrap().unwrap();
    assert_eq!(vec![p.address.clone()], free);
    assert!(s.failed_proxies.contains(&failed));
    assert_eq!(s.all_proxies[&failed].cluster, None);
    let m = masters(&s, "c", 1);
    assert!(m.iter().all(|(proxy, _)| *proxy == survivor));
    assert!(p.nodes.iter().all(|n| n.repl.role == Role::Replica));
    // Now no free proxy: the takeover of the survivor still happens.
    let e = failover(&mut s, &survivor, NOW, &st).unwrap_err();
    assert_eq!(e.error, StoreError::NoAvailableResource);
    assert!(e.keep_changes);
    assert_eq!(
        s.clusters["c"].chunks[0].role_position,
        model::RolePosition::FirstChunkMaster
    );
    // Repeated (the coordinator retries every round): nothing more changes.
    let before = s.clone();
    let e = failover(&mut s, &survivor, NOW, &st).unwrap_err();
    assert_eq!(e.error, StoreError::NoAvailableResource);
    assert_eq!(s, before);
    // Free proxy failover only marks it failed.
    let mut s = store_with(&["h1"], 1);
    assert_eq!(failover(&mut s, "h1:6000", NOW, &st).unwrap(), None);
    assert!(s.failed_proxies.contains("h1:6000"));
    assert_eq!(
        failover(&mut s, "x:1", NOW, &st).unwrap_err().error,
        StoreError::ProxyNotFound
    );
}

#[test]
fn balance_and_resource_check() {
    let mut s = store_with(&["h1", "h2", "h3"], 1);
    let st = settings(1);
    create_cluster(&mut s, "c", 4, NOW, &st).unwrap();
    assert!(check_resources(&s, NOW, &st).is_empty());
    let failed = s.clusters["c"].chunks[0].proxy_addresses[0].clone();
    failover(&mut s, &failed, NOW, &st).unwrap();
    assert_eq!(check_resources(&s, NOW, &st).len(), 2);
    balance(&mut s, "c", NOW, &st).unwrap();
    assert_eq!(
        s.clusters["c"].chunks[0].role_position,
        model::RolePosition::Normal
    );
}

#[test]
fn failures_need_quorum_within_ttl() {
    let mut s = store_with(&["h1"], 1);
    let st = Settings {
        failure_quorum: 2,
        failure_ttl: 10,
        ..Settings::default()
    };
    let e0 = s.global_epoch;
    report_failure(&mut s, "h1:6000", "c1", NOW, 10);
    report_failure(&mut s, "h1:6000", "c1", NOW, 10);
    assert_eq!(s.global_epoch, e0 + 1);
    assert!(failures(&s, NOW, &st).is_empty());
    report_failure(&mut s, "h1:6000", "c2", NOW, 10);
    assert_eq!(failures(&s, NOW, &st), ["h1:6000"]);
    assert!(failures(&s, NOW + 11, &st).is_empty());
}

#[test]
fn epochs() {
    let mut s = store_with(&["h1", "h2"], 1);
    create_cluster(&mut s, "c", 4, NOW, &settings(1)).unwrap();
    assert_eq!(
        set_epoch(&mut s, 1).unwrap_err().error,
        StoreError::EpochSmallerThanCurrent
    );
    set_epoch(&mut s, 100).unwrap();
    assert_eq!(s.clusters["c"].epoch, 100);
    assert_eq!(recover_epoch(&mut s, 500), 502);
    assert_eq!(s.clusters["c"].epoch, 502);
}

#[test]
fn config_patch_is_all_or_nothing() {
    let mut s = store_with(&["h1", "h2"], 1);
    create_cluster(&mut s, "c", 4, NOW, &settings(1)).unwrap();
    let mut f = std::collections::BTreeMap::new();
    f.insert(
        "compression_strategy".to_string(),
        "set_get_only".to_string(),
    );
    f.insert("nope".to_string(), "1".to_string());
    let e = patch_config(&mut s, "c", &f).unwrap_err().error;
    assert_eq!(e.code(), "INVALID_CONFIG");
    f.remove("nope");
    patch_config(&mut s, "c", &f).unwrap();
}
