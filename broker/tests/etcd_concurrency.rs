//! Two brokers on one etcd take 200 conflicting mutations at once (proxies added and removed
//! under each other, failure reports) from 8 clients. Every answer must be an acceptance or a
//! refusal a serial execution could give, and the final metadata must be what some serial
//! order of exactly the accepted operations produces:
//! - each accepted operation bumps the global epoch by one, so the final epoch is the initial
//!   one plus the number accepted (nothing accepted is lost, nothing refused slipped in);
//! - per proxy, accepted adds and removes alternate starting from absent (an add succeeds
//!   only when absent, a remove only when present), so adds == removes (absent at the end)
//!   or adds == removes + 1 (present at the end);
//! - the failure reports stored are exactly the accepted ones.

// why: test helpers outside #[test] fns may fail loudly; a failing unwrap is a failing test.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Barrier};
use std::time::Duration;
use support::etcd::{eventually, EtcdProc};
use support::*;

const OPS: usize = 200;
const CLIENTS: usize = 8;
const POOL: u16 = 8;

#[derive(Debug, Clone)]
enum Op {
    Add(u16),
    Remove(u16),
    Report { port: u16, reporter: String },
}

/// A fixed, well-mixed sequence (a small LCG: no randomness between runs).
fn ops() -> Vec<Op> {
    let mut x: u32 = 12345;
    (0..OPS)
        .map(|i| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let port = 6001 + u16::try_from((x >> 16) % u32::from(POOL)).unwrap();
            match i % 5 {
                0 | 1 => Op::Add(port),
                2 | 3 => Op::Remove(port),
                _ => Op::Report {
                    port: 9001 + port % 4,
                    reporter: format!("coord-{i}"),
                },
            }
        })
        .collect()
}

fn run(b: &BrokerProc, op: &Op) -> (u16, Value) {
    match op {
        Op::Add(port) => add_proxy(b, "v3", *port, &format!("h{}", port % 3)),
        Op::Remove(port) => b.call(
            "DELETE",
            &format!("/api/v3/proxies/meta/127.0.0.1:{port}"),
            None,
        ),
        Op::Report { port, reporter } => b.call(
            "POST",
            &format!("/api/v3/failures/127.0.0.1:{port}/{reporter}"),
            None,
        ),
    }
}

#[test]
fn two_brokers_accept_200_conflicting_mutations_serializably() {
    let etcd = EtcdProc::start();
    let env = [("failure_ttl", "3600")];
    let brokers = Arc::new([etcd.broker("/c", &env), etcd.broker("/c", &env)]);
    let (_, before) = brokers[0].get("/api/v3/metadata");
    let epoch0 = before["global_epoch"].as_u64().unwrap();
    let all = Arc::new(ops());
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let (brokers, all, barrier) = (brokers.clone(), all.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let b = &brokers[t % 2];
                (t..OPS)
                    .step_by(CLIENTS)
                    .map(|i| (i, run(b, &all[i])))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut results: Vec<(usize, (u16, Value))> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    results.sort_by_key(|(i, _)| *i);
    assert_eq!(results.len(), OPS);

    let mut accepted = 0u64;
    let mut adds: BTreeMap<u16, i64> = BTreeMap::new();
    let mut removes: BTreeMap<u16, i64> = BTreeMap::new();
    let mut reports: BTreeSet<(String, String)> = BTreeSet::new();
    let mut retries = 0;
    for (i, (status, body)) in &results {
        let op = &all[*i];
        let code = body["error"].as_str().unwrap_or_default();
        if *status == 200 {
            accepted += 1;
            match op {
                Op::Add(p) => *adds.entry(*p).or_default() += 1,
                Op::Remove(p) => *removes.entry(*p).or_default() += 1,
                Op::Report { port, reporter } => {
                    reports.insert((format!("127.0.0.1:{port}"), reporter.clone()));
                }
            }
            continue;
        }
        let allowed = match op {
            Op::Add(_) => (*status, code) == (409, "ALREADY_EXISTED"),
            Op::Remove(_) => (*status, code) == (404, "PROXY_NOT_FOUND"),
            Op::Report { .. } => false,
        };
        if (*status, code) == (409, "RETRY") {
            retries += 1;
        } else {
            assert!(allowed, "op {op:?} got {status} {body}");
        }
    }
    assert!(
        retries < OPS / 4,
        "{retries} RETRY answers: brokers should retry conflicts themselves"
    );
    assert!(!reports.is_empty() && !adds.is_empty() && !removes.is_empty());

    eventually(Duration::from_secs(20), "both brokers agree", || {
        brokers[0].get("/api/v3/metadata") == brokers[1].get("/api/v3/metadata")
    });
    let (_, meta) = brokers[1].get("/api/v3/metadata");
    assert_eq!(
        meta["global_epoch"].as_u64().unwrap(),
        epoch0 + accepted,
        "every accepted mutation bumps the epoch once; {accepted} accepted"
    );
    for port in 6001..6001 + POOL {
        let (a, r) = (
            adds.get(&port).copied().unwrap_or(0),
            removes.get(&port).copied().unwrap_or(0),
        );
        let present = meta["all_proxies"]
            .as_object()
            .unwrap()
            .contains_key(&format!("127.0.0.1:{port}"));
        assert!(
            (present && a == r + 1) || (!present && a == r),
            "proxy {port}: {a} adds, {r} removes accepted, present at the end: {present}"
        );
    }
    let stored: BTreeSet<(String, String)> = meta["failures"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(addr, by)| {
            by.as_object()
                .unwrap()
                .keys()
                .map(|r| (addr.clone(), r.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(stored, reports, "failure reports stored == accepted");
}
