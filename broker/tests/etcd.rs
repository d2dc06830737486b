//! etcd storage end to end: real `etcd`, real `mem_broker`s. Two brokers share one store,
//! failure reports count across brokers, prefixes isolate deployments, and an etcd outage
//! gives 503 on writes, stale-flagged cached reads, and recovery without a restart.

// why: test helpers outside #[test] fns may fail loudly; a failing unwrap is a failing test.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;
use serde_json::Value;
use std::time::Duration;
use support::etcd::{eventually, EtcdProc};
use support::*;

const SETTLE: Duration = Duration::from_secs(20);

fn metadata(b: &BrokerProc) -> Value {
    let (status, v) = b.get("/api/v3/metadata");
    assert_eq!(status, 200, "{v}");
    v
}

fn same_metadata(a: &BrokerProc, b: &BrokerProc) {
    eventually(SETTLE, "both brokers show the same metadata", || {
        metadata(a) == metadata(b)
    });
}

#[test]
fn two_brokers_share_one_store_and_prefixes_isolate_deployments() {
    let etcd = EtcdProc::start();
    let a = etcd.broker("/dep1", &[]);
    let b = etcd.broker("/dep1", &[]);
    let other = etcd.broker("/dep2", &[]);
    // Proxies registered through A, one after another through B: each write sees the other's.
    for (i, port) in [6001u16, 6002, 6003, 6004].into_iter().enumerate() {
        let broker = if i % 2 == 0 { &a } else { &b };
        let host = if i < 2 { "h1" } else { "h2" };
        assert_eq!(add_proxy(broker, "v3", port, host).0, 200);
    }
    assert_err(add_proxy(&a, "v3", 6002, "h1"), 409, "ALREADY_EXISTED");
    assert_eq!(
        b.call(
            "POST",
            "/api/v3/clusters/meta/c1",
            Some(r#"{"node_number":4}"#)
        )
        .0,
        200
    );
    // A write answered on B is visible on A without any write through A (the watch).
    eventually(SETTLE, "A sees the cluster B created", || {
        a.get("/api/v3/clusters/names").1["names"] == serde_json::json!(["c1"])
    });
    same_metadata(&a, &b);
    let meta = metadata(&a);
    assert_eq!(meta["all_proxies"].as_object().unwrap().len(), 4);
    // Another prefix is another deployment: it sees none of it.
    let (_, names) = other.get("/api/v3/clusters/names");
    assert_eq!(names["names"], serde_json::json!([]));
    assert_eq!(
        other.get("/api/v3/proxies/addresses").1["addresses"],
        serde_json::json!([])
    );
    // PUT /metadata goes through etcd too.
    let mut older = meta.clone();
    older["global_epoch"] = serde_json::json!(0);
    let (status, body) = b.call("PUT", "/api/v3/metadata", Some(&older.to_string()));
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("EPOCH_SMALLER_THAN_CURRENT"))
    );
}

#[test]
fn failure_reports_reach_quorum_across_brokers() {
    let etcd = EtcdProc::start();
    let env = [("failure_quorum", "2")];
    let a = etcd.broker("/q", &env);
    let b = etcd.broker("/q", &env);
    assert_eq!(add_proxy(&a, "v3", 7001, "h1").0, 200);
    let report = |x: &BrokerProc, reporter: &str| {
        x.call(
            "POST",
            &format!("/api/v3/failures/127.0.0.1:7001/{reporter}"),
            None,
        )
        .0
    };
    assert_eq!(report(&a, "coord-1"), 200);
    assert_eq!(
        a.get("/api/v3/failures").1["addresses"],
        serde_json::json!([])
    );
    assert_eq!(report(&b, "coord-2"), 200);
    for x in [&a, &b] {
        eventually(SETTLE, "two reporters on two brokers make a quorum", || {
            x.get("/api/v3/failures").1["addresses"] == serde_json::json!(["127.0.0.1:7001"])
        });
    }
}

#[test]
fn etcd_outage_gives_503_writes_stale_reads_and_recovers() {
    let mut etcd = EtcdProc::start();
    let a = etcd.broker("/o", &[]);
    let b = etcd.broker("/o", &[]);
    assert_eq!(add_proxy(&a, "v3", 6001, "h1").0, 200);
    eventually(SETTLE, "B sees the proxy", || {
        b.get("/api/v3/proxies/addresses").1["addresses"] == serde_json::json!(["127.0.0.1:6001"])
    });
    let fresh = a.raw("GET", "/api/v3/proxies/addresses", &[], None);
    assert_eq!(fresh.header("x-undermoon-stale"), None);

    etcd.kill();
    for x in [&a, &b] {
        let (status, body) = add_proxy(x, "v3", 6002, "h2");
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "STORAGE_UNAVAILABLE");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        // Cached reads still answer, flagged stale.
        eventually(SETTLE, "reads are flagged stale", || {
            x.raw("GET", "/api/v3/proxies/addresses", &[], None)
                .header("x-undermoon-stale")
                == Some("true")
        });
        let r = x.raw("GET", "/api/v3/proxies/addresses", &[], None);
        assert_eq!(r.status, 200);
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["addresses"], serde_json::json!(["127.0.0.1:6001"]));
    }
    assert_eq!(metadata(&a)["all_proxies"].as_object().unwrap().len(), 1);

    etcd.restart();
    for x in [&a, &b] {
        eventually(SETTLE, "reads are fresh again", || {
            let r = x.raw("GET", "/api/v3/proxies/addresses", &[], None);
            r.status == 200 && r.header("x-undermoon-stale").is_none()
        });
    }
    assert_eq!(add_proxy(&b, "v3", 6002, "h2").0, 200);
    assert_eq!(add_proxy(&a, "v3", 6003, "h2").0, 200);
    same_metadata(&a, &b);
    assert_eq!(metadata(&b)["all_proxies"].as_object().unwrap().len(), 3);
}

#[test]
fn a_broker_started_before_etcd_waits_for_it() {
    let mut etcd = EtcdProc::start();
    etcd.kill();
    let addr = etcd.addr.clone();
    let starter = std::thread::spawn(move || {
        BrokerProc::start(&[
            ("storage_type", "etcd"),
            ("etcd_endpoints", addr.as_str()),
            ("etcd_prefix", "/late"),
        ])
    });
    std::thread::sleep(Duration::from_millis(500));
    etcd.restart();
    let b = starter.join().unwrap();
    assert_eq!(add_proxy(&b, "v3", 6001, "h1").0, 200);
}

/// The broker half of the issue's end-to-end scenario (the coordinator and proxies are not in
/// this test): a cluster created through A and scaled through B; A is SIGKILLed while it
/// handles a failover; retrying the failover through B completes it, and a new A on the same
/// etcd serves exactly B's metadata.
#[test]
fn broker_killed_during_a_failover_loses_nothing() {
    let etcd = EtcdProc::start();
    let mut a = etcd.broker("/k", &[]);
    let b = etcd.broker("/k", &[]);
    for (i, port) in (6001u16..6009).enumerate() {
        let host = format!("h{}", i / 2);
        assert_eq!(add_proxy(&a, "v3", port, &host).0, 200);
    }
    let create = a.call(
        "POST",
        "/api/v3/clusters/meta/c",
        Some(r#"{"node_number":4}"#),
    );
    assert_eq!(create.0, 200, "{}", create.1);
    let grow = b.call(
        "PATCH",
        "/api/v3/clusters/nodes/c",
        Some(r#"{"node_number":4}"#),
    );
    assert_eq!(grow.0, 200, "{}", grow.1);
    let expand = b.call("POST", "/api/v3/clusters/migrations/expand/c", None);
    assert_eq!(expand.0, 200, "{}", expand.1);
    let (_, cluster) = b.get("/api/v3/clusters/meta/c");
    let failed = masters(&cluster["cluster"])[0].0.clone();

    let path = format!("/api/v3/proxies/failover/{failed}");
    let addr = a.addr.clone();
    let racing = std::thread::spawn(move || {
        broker::http::client::request("POST", &addr, &path, &[], None, TIMEOUT)
    });
    std::thread::sleep(Duration::from_millis(2));
    a.kill_and_restart();
    // Whether A committed it or died first, the retry through B completes it.
    let _ = racing.join().unwrap();
    let (status, body) = b.call("POST", &format!("/api/v3/proxies/failover/{failed}"), None);
    assert_eq!(status, 200, "{body}");
    same_metadata(&a, &b);
    let (_, after) = a.get("/api/v3/clusters/meta/c");
    let in_cluster: Vec<&str> = after["cluster"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["proxy_address"].as_str().unwrap())
        .collect();
    assert_eq!(in_cluster.len(), 8);
    assert!(!in_cluster.contains(&failed.as_str()), "{failed} replaced");
    assert_eq!(metadata(&a)["failed_proxies"], serde_json::json!([failed]));
}
