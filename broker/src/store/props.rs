//! Property test over random sequences of operations: whatever operators and coordinators do,
//! the store keeps its invariants and the views never hit an internal error.

use super::model::MetaStore;
use super::*;
use control::model::{MigrationTask, SlotRangeTag};
use proptest::prelude::*;
use std::collections::BTreeSet;

#[derive(Debug, Clone)]
enum Op {
    Create(usize, u64),
    AddNodes(usize, u64),
    Expand(usize),
    Shrink(usize, u64),
    CommitAll(usize),
    DeleteFree(usize),
    Failover(usize),
    Reregister(usize),
    Balance(usize),
    DeleteCluster(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 1..4u64).prop_map(|(c, n)| Op::Create(c, n * 4)),
        (0..2usize, 1..3u64).prop_map(|(c, n)| Op::AddNodes(c, n * 4)),
        (0..2usize).prop_map(Op::Expand),
        (0..2usize, 1..3u64).prop_map(|(c, n)| Op::Shrink(c, n * 4)),
        (0..2usize).prop_map(Op::CommitAll),
        (0..2usize).prop_map(Op::DeleteFree),
        (0..32usize).prop_map(Op::Failover),
        (0..32usize).prop_map(Op::Reregister),
        (0..2usize).prop_map(Op::Balance),
        (0..2usize).prop_map(Op::DeleteCluster),
    ]
}

fn run(store: &mut MetaStore, op: &Op, st: &Settings) -> Result<(), OpError> {
    let name = |c: &usize| format!("c{c}");
    let proxy = |i: &usize| {
        let all: Vec<&String> = store.all_proxies.keys().collect();
        all.get(i % all.len().max(1))
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    match op {
        Op::Create(c, n) => create_cluster(store, &name(c), *n, 0, st),
        Op::AddNodes(c, n) => add_nodes(store, &name(c), *n, 0, st).map(|_| ()),
        Op::Expand(c) => expand(store, &name(c)),
        Op::Shrink(c, n) => shrink(store, &name(c), *n),
        Op::CommitAll(c) => {
            let Some(cluster) = store.clusters.get(&name(c)) else {
                return Ok(());
            };
            let view = view::cluster_view(cluster, 0)?;
            let tasks: Vec<MigrationTask> = view
                .nodes
                .iter()
                .flat_map(|n| &n.slots)
                .filter(|s| matches!(s.tag, SlotRangeTag::Migrating(_)))
                .map(|s| MigrationTask {
                    cluster_name: view.name.clone(),
                    slot_range: s.clone(),
                })
                .collect();
            for t in tasks {
                commit_migration(store, &t)?;
            }
            Ok(())
        }
        Op::DeleteFree(c) => delete_free_nodes(store, &name(c)),
        Op::Failover(i) => {
            let p = proxy(i);
            failover(store, &p, 0, st).map(|_| ())
        }
        Op::Reregister(i) => {
            let p = proxy(i);
            let Some(res) = store.all_proxies.get(&p).cloned() else {
                return Ok(());
            };
            add_proxy(
                store,
                AddProxy {
                    proxy_address: p,
                    nodes: res.node_addresses,
                    host: Some(res.host),
                    index: None,
                },
            )
        }
        Op::Balance(c) => balance(store, &name(c), 0, st),
        Op::DeleteCluster(c) => delete_cluster(store, &name(c)),
    }
}

fn check(store: &MetaStore) -> Result<(), String> {
    let mut in_chunks = BTreeSet::new();
    for (name, c) in &store.clusters {
        let mut owned: Vec<u16> = Vec::new();
        for chunk in &c.chunks {
            if chunk.hosts[0] == chunk.hosts[1] {
                return Err(format!("{name}: chunk on one host {:?}", chunk.hosts));
            }
            for (i, p) in chunk.proxy_addresses.iter().enumerate() {
                let res = store
                    .all_proxies
                    .get(p)
                    .ok_or(format!("unknown proxy {p}"))?;
                if res.cluster.as_deref() != Some(name.as_str()) {
                    return Err(format!("{p} in {name} but marked {:?}", res.cluster));
                }
                if res.host != chunk.hosts[i]
                    || res.node_addresses[..] != chunk.node_addresses[2 * i..2 * i + 2]
                {
                    return Err(format!("{p}: chunk copy differs from its resource"));
                }
                if !in_chunks.insert(p.clone()) {
                    return Err(format!("{p} in two chunks"));
                }
            }
            for part in 0..2 {
                if let Some(s) = &chunk.stable_slots[part] {
                    owned.extend(slots::expand(&s.range_list));
                }
                for m in &chunk.migrating_slots[part] {
                    if m.is_migrating {
                        owned.extend(slots::expand(&m.range_list));
                        let dst = &c.chunks[m.meta.dst_chunk_index].migrating_slots
                            [m.meta.dst_chunk_part];
                        if !dst.iter().any(|d| {
                            !d.is_migrating && d.range_list == m.range_list && d.meta == m.meta
                        }) {
                            return Err(format!("{name}: migration without its importing side"));
                        }
                    }
                }
            }
        }
        owned.sort_unstable();
        if owned != (0..16384u16).collect::<Vec<_>>() {
            return Err(format!(
                "{name}: slots not owned exactly once ({} owned)",
                owned.len()
            ));
        }
        if c.epoch > store.global_epoch {
            return Err(format!("{name}: epoch ahead of global"));
        }
        view::cluster_view(c, 1).map_err(|e| format!("{name}: view failed: {e:?}"))?;
    }
    for p in store.all_proxies.values() {
        if p.cluster.is_some() && !in_chunks.contains(&p.proxy_address) {
            return Err(format!("{} marked used but in no chunk", p.proxy_address));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_operations_keep_the_store_consistent(
        hosts in proptest::collection::vec(1usize..4, 2..6),
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let mut store = MetaStore::new(false);
        for (h, &n) in hosts.iter().enumerate() {
            for i in 0..n {
                add_proxy(&mut store, AddProxy {
                    proxy_address: format!("10.0.{h}.{i}:6000"),
                    nodes: [format!("10.0.{h}.{i}:7000"), format!("10.0.{h}.{i}:7001")],
                    host: Some(format!("host{h}")),
                    index: None,
                }).unwrap();
            }
        }
        let st = Settings::default();
        for op in &ops {
            let mut copy = store.clone();
            let before = copy.global_epoch;
            match run(&mut copy, op, &st) {
                Ok(()) => store = copy,
                Err(e) => {
                    prop_assert!(!matches!(e.error, StoreError::Internal(_)), "{:?} -> {:?}", op, e);
                    if e.keep_changes {
                        store = copy;
                    }
                }
            }
            prop_assert!(store.global_epoch >= before);
            if let Err(msg) = check(&store) {
                prop_assert!(false, "after {:?}: {}", op, msg);
            }
        }
    }
}
