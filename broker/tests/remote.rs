//! Routes that talk to proxies (`UMCTL GETEPOCH` through fake RESP servers), replica brokers,
//! external HTTP storage, and ordered mode.
// why: test helpers outside #[test] fns may fail loudly; a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

/// A fake proxy answering every command with `:<epoch>`; returns its address and epoch knob.
fn fake_proxy(epoch: u64) -> (String, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let knob = Arc::new(AtomicU64::new(epoch));
    let k = knob.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 256];
            if s.read(&mut buf).unwrap_or(0) > 0 {
                let _ = s.write_all(format!(":{}\r\n", k.load(Ordering::SeqCst)).as_bytes());
            }
        }
    });
    (addr, knob)
}

fn register(b: &BrokerProc, addr: &str, host: &str, index: Option<usize>) -> (u16, Value) {
    let mut body = json!({"proxy_address": addr, "nodes": [format!("{addr}0"), format!("{addr}1")], "host": host});
    if let Some(i) = index {
        body["index"] = json!(i);
    }
    b.call("POST", "/api/v3/proxies/meta", Some(&body.to_string()))
}

#[test]
fn epoch_recovery_raises_epochs_above_every_proxy() {
    let b = BrokerProc::start(&[]);
    let (p1, _) = fake_proxy(500);
    let (p2, _) = fake_proxy(700);
    // A listener that never accepts: the connection opens, the reply never comes.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = silent.local_addr().unwrap().to_string();
    register(&b, &p1, "h1", None);
    register(&b, &p2, "h2", None);
    register(&b, &dead, "h3", None);
    b.call(
        "POST",
        "/api/v3/clusters/meta/c",
        Some(r#"{"node_number":4}"#),
    );
    let (status, reply) = b.call("PUT", "/api/v3/epoch/recovery", None);
    assert_eq!(status, 200);
    assert_eq!(reply, json!({"failed_addresses": [dead]}));
    assert_eq!(b.call("GET", "/api/v3/epoch", None).1, json!(702));
    assert_eq!(
        b.call("GET", "/api/v3/clusters/meta/c", None).1["cluster"]["epoch"],
        702
    );
}

#[test]
fn auto_scaling_waits_for_proxies_and_holds_the_scale_lock() {
    let b = Arc::new(BrokerProc::start(&[("migration_limit", "0")]));
    let mut knobs = Vec::new();
    for h in ["h1", "h2", "h3", "h4"] {
        let (addr, knob) = fake_proxy(0);
        register(&b, &addr, h, None);
        knobs.push(knob);
    }
    assert_eq!(
        b.call(
            "POST",
            "/api/v3/clusters/meta/c",
            Some(r#"{"node_number":4}"#)
        )
        .0,
        200
    );
    assert_err(
        b.call("POST", "/api/v3/clusters/migrations/auto/c/6", None),
        400,
        "INVALID_NODE_NUMBER",
    );
    assert_err(
        b.call("POST", "/api/v3/clusters/migrations/auto/nope/8", None),
        404,
        "CLUSTER_NOT_FOUND",
    );
    let b2 = b.clone();
    let auto = std::thread::spawn(move || {
        // why: the probes below take the scale lock for an instant, and an auto call that lands
        // on one is refused with NODE_NUMBER_CHANGING, as any concurrent scaling call must be;
        // it tries again until it holds the lock itself.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = b2.call("POST", "/api/v3/clusters/migrations/auto/c/8", None);
            if r.1["error"] != "NODE_NUMBER_CHANGING" || Instant::now() > deadline {
                return r;
            }
        }
    });
    // While auto waits for the proxies, other scaling calls are refused. why 20 s: on a loaded
    // 2-core machine the auto call can take seconds to reach the lock; it holds it for up to
    // 30 s waiting for the (silent) fake proxies, so the window stays inside that wait.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = b.call("DELETE", "/api/v3/clusters/free_nodes/c", None);
        if r.1["error"] == "NODE_NUMBER_CHANGING" {
            assert_eq!(r.0, 409);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never saw NODE_NUMBER_CHANGING: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_err(
        b.call(
            "PATCH",
            "/api/v3/clusters/nodes/c",
            Some(r#"{"node_number":4}"#),
        ),
        409,
        "NODE_NUMBER_CHANGING",
    );
    for k in &knobs {
        k.store(1_000_000, Ordering::SeqCst);
    }
    assert_eq!(auto.join().unwrap(), (200, Value::Null));
    let (_, info) = b.call("GET", "/api/v3/clusters/info/c", None);
    assert_eq!(info["node_number"], 8);
    assert_eq!(info["node_number_with_slots"], 8);
    assert_eq!(info["is_migrating"], true);
    assert_err(
        b.call("POST", "/api/v3/clusters/migrations/auto/c/4", None),
        409,
        "MIGRATION_RUNNING",
    );
}

#[test]
fn replica_receives_the_metadata_and_config_api_changes_targets() {
    let replica = BrokerProc::start(&[]);
    let master = BrokerProc::start(&[
        ("replica_addresses", &replica.addr),
        ("sync_meta_interval", "1"),
    ]);
    assert_eq!(
        master.call("GET", "/api/v3/config", None).1,
        json!({"replica_addresses": [replica.addr]})
    );
    add_proxy(&master, "v3", 6001, "h1");
    add_proxy(&master, "v3", 6002, "h2");
    master.call(
        "POST",
        "/api/v3/clusters/meta/c",
        Some(r#"{"node_number":4}"#),
    );
    let (_, want) = master.call("GET", "/api/v3/metadata", None);
    let deadline = Instant::now() + Duration::from_secs(5);
    while replica.call("GET", "/api/v3/metadata", None).1 != want {
        assert!(Instant::now() < deadline, "replica never caught up");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        master
            .call("PUT", "/api/v3/config", Some(r#"{"replica_addresses":[]}"#))
            .0,
        200
    );
    assert_eq!(
        master.call("GET", "/api/v3/config", None).1,
        json!({"replica_addresses": []})
    );
    assert_eq!(
        master
            .call(
                "PUT",
                "/api/v3/config",
                Some(r#"{"replica_addresses":"x"}"#)
            )
            .0,
        400
    );
}

#[derive(Default)]
struct FakeStore {
    version: u64,
    store: Option<Value>,
}

/// An external store speaking the protocol of spec 4.11, with knobs to misbehave.
struct External {
    addr: String,
    state: Arc<Mutex<FakeStore>>,
    conflict_next_put: Arc<AtomicBool>,
    fail_get: Arc<AtomicBool>,
    null_version: Arc<AtomicBool>,
    slow_get: Arc<AtomicBool>,
}

fn external_store() -> External {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let addr = server.server_addr().to_ip().unwrap().to_string();
    let ext = External {
        addr,
        state: Arc::default(),
        conflict_next_put: Arc::default(),
        fail_get: Arc::default(),
        null_version: Arc::default(),
        slow_get: Arc::default(),
    };
    let slow = ext.slow_get.clone();
    let (state, conflict, fail, null) = (
        ext.state.clone(),
        ext.conflict_next_put.clone(),
        ext.fail_get.clone(),
        ext.null_version.clone(),
    );
    std::thread::spawn(move || {
        let auth = format!("Basic {}", broker::http::client::base64(b"mystore:secret"));
        for mut req in server.incoming_requests() {
            let authed = req
                .headers()
                .iter()
                .any(|h| h.field.equiv("Authorization") && h.value.as_str() == auth);
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let (status, reply) = if !authed || req.url() != "/api/v1/store/mystore" {
                (401, json!({}))
            } else if *req.method() == tiny_http::Method::Get {
                if slow.swap(false, Ordering::SeqCst) {
                    // Longer than the broker's 5 s timeout towards the store.
                    std::thread::sleep(Duration::from_secs(6));
                }
                let s = state.lock().unwrap();
                if fail.load(Ordering::SeqCst) {
                    (500, json!({}))
                } else if null.load(Ordering::SeqCst) || s.store.is_none() {
                    (200, json!({"version": null, "store": s.store}))
                } else {
                    (
                        200,
                        json!({"version": s.version.to_string(), "store": s.store}),
                    )
                }
            } else {
                let doc: Value = serde_json::from_str(&body).unwrap();
                let mut s = state.lock().unwrap();
                let ok = match doc["version"].as_str() {
                    None => s.store.is_none(),
                    Some(v) => {
                        v == s.version.to_string() && !conflict.swap(false, Ordering::SeqCst)
                    }
                };
                if ok {
                    s.version += 1;
                    s.store = Some(doc["store"].clone());
                    (200, json!({}))
                } else {
                    (409, json!({}))
                }
            };
            let _ = req.respond(
                tiny_http::Response::from_string(reply.to_string()).with_status_code(status),
            );
        }
    });
    ext
}

#[test]
fn external_storage_versioned_writes() {
    let ext = external_store();
    let b = BrokerProc::start(&[
        ("storage_type", "http"),
        ("http_storage_address", &ext.addr),
        ("storage_name", "mystore"),
        ("storage_password", "secret"),
    ]);
    assert_eq!(add_proxy(&b, "v3", 6001, "h1").0, 200);
    let stored = ext.state.lock().unwrap().store.clone().unwrap();
    assert!(stored["all_proxies"].get("127.0.0.1:6001").is_some());
    assert_eq!(
        b.call("GET", "/api/v3/proxies/addresses", None).1,
        json!({"addresses": ["127.0.0.1:6001"]})
    );
    // A concurrent writer won: RETRY, and nothing of ours was stored.
    ext.conflict_next_put.store(true, Ordering::SeqCst);
    assert_err(add_proxy(&b, "v3", 6002, "h2"), 409, "RETRY");
    let stored = ext.state.lock().unwrap().store.clone().unwrap();
    assert!(stored["all_proxies"].get("127.0.0.1:6002").is_none());
    assert_eq!(add_proxy(&b, "v3", 6002, "h2").0, 200);
    ext.null_version.store(true, Ordering::SeqCst);
    assert_err(
        add_proxy(&b, "v3", 6003, "h3"),
        500,
        "EMPTY_EXTERNAL_VERSION",
    );
    ext.null_version.store(false, Ordering::SeqCst);
    ext.fail_get.store(true, Ordering::SeqCst);
    assert_err(add_proxy(&b, "v3", 6003, "h3"), 500, "EXTERNAL");
    ext.fail_get.store(false, Ordering::SeqCst);
    assert_eq!(
        b.call(
            "POST",
            "/api/v3/clusters/meta/c",
            Some(r#"{"node_number":4}"#)
        )
        .0,
        200
    );
    let stored = ext.state.lock().unwrap().store.clone().unwrap();
    assert!(stored["clusters"].get("c").is_some());
    ext.slow_get.store(true, Ordering::SeqCst);
    assert_err(add_proxy(&b, "v3", 6003, "h3"), 504, "EXTERNAL_TIMEOUT");
}

#[test]
fn ordered_mode() {
    let b = BrokerProc::start(&[("enable_ordered_proxy", "true")]);
    assert_err(
        register(&b, "127.0.0.1:6000", "h", None),
        400,
        "MISSING_SERVER_PROXY_INDEX",
    );
    for i in [0usize, 1, 3, 4] {
        assert_eq!(
            register(&b, &format!("127.0.0.1:{}", 6000 + i), "h", Some(i)).0,
            200
        );
    }
    assert_eq!(
        b.call(
            "POST",
            "/api/v3/clusters/meta/c",
            Some(r#"{"node_number":4}"#)
        )
        .0,
        200
    );
    let (_, view) = b.call("GET", "/api/v3/clusters/meta/c", None);
    assert_eq!(masters(&view["cluster"])[0].0, "127.0.0.1:6000");
    assert_eq!(masters(&view["cluster"])[1].0, "127.0.0.1:6001");
    assert_err(
        b.call(
            "POST",
            "/api/v3/clusters/meta/d",
            Some(r#"{"node_number":4}"#),
        ),
        409,
        "ONE_CLUSTER_ALREADY_EXISTED",
    );
    assert_err(
        b.call(
            "PATCH",
            "/api/v3/clusters/nodes/c",
            Some(r#"{"node_number":4}"#),
        ),
        409,
        "PROXY_RESOURCE_OUT_OF_ORDER",
    );
    assert_eq!(
        b.call("POST", "/api/v3/proxies/failover/127.0.0.1:6000", None),
        (200, json!({"proxy": null}))
    );
    let (_, view) = b.call("GET", "/api/v3/clusters/meta/c", None);
    assert!(masters(&view["cluster"])
        .iter()
        .all(|m| m.0 == "127.0.0.1:6001"));
}

#[test]
fn external_storage_cache_follows_other_writers() {
    let ext = external_store();
    let b = BrokerProc::start(&[
        ("storage_type", "http"),
        ("http_storage_address", &ext.addr),
        ("storage_name", "mystore"),
        ("storage_password", "secret"),
        ("refresh_interval", "1"),
    ]);
    for (port, host) in [(6001, "h1"), (6002, "h2")] {
        // A write racing the refresh loop gets RETRY, as any concurrent writer would.
        while add_proxy(&b, "v3", port, host).1["error"] == "RETRY" {}
    }
    assert_eq!(
        b.call("GET", "/api/v3/proxies/addresses", None).1["addresses"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Another broker wrote to the store: reads follow within a refresh interval.
    {
        let mut st = ext.state.lock().unwrap();
        st.version += 1;
        let store = st.store.as_mut().unwrap();
        store["all_proxies"]
            .as_object_mut()
            .unwrap()
            .remove("127.0.0.1:6002");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.call("GET", "/api/v3/proxies/addresses", None).1["addresses"]
        .as_array()
        .unwrap()
        .len()
        != 1
    {
        assert!(Instant::now() < deadline, "cache never refreshed");
        std::thread::sleep(Duration::from_millis(100));
    }
}
