//! Every error code the memory broker can return, through the real binary, with its status;
//! and bad input of every kind getting a 4xx JSON error while the broker keeps serving.
// why: test helpers outside #[test] fns may fail loudly; a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;
use serde_json::{json, Value};
use support::*;

fn cluster_with_free(b: &BrokerProc) {
    for (port, host) in [(6001, "h1"), (6002, "h2"), (6003, "h3"), (6004, "h4")] {
        assert_eq!(add_proxy(b, "v3", port, host).0, 200);
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
}

#[test]
fn proxy_and_cluster_errors() {
    let b = BrokerProc::start(&[]);
    cluster_with_free(&b);
    // Proxies.
    assert_err(add_proxy(&b, "v3", 6001, "h1"), 409, "ALREADY_EXISTED");
    assert_err(
        b.call(
            "POST",
            "/api/v3/proxies/meta",
            Some(r#"{"proxy_address":"127.0.0.1","nodes":["a:1","b:2"]}"#),
        ),
        400,
        "INVALID_PROXY_ADDRESS",
    );
    assert_err(
        b.call("DELETE", "/api/v3/proxies/meta/1.2.3.4:1", None),
        404,
        "PROXY_NOT_FOUND",
    );
    let (_, view) = b.call("GET", "/api/v3/clusters/meta/c", None);
    let used = masters(&view["cluster"])[0].0.clone();
    assert_err(
        b.call("DELETE", &format!("/api/v3/proxies/meta/{used}"), None),
        409,
        "IN_USE",
    );
    assert_eq!(
        b.call("GET", "/api/v3/proxies/meta/1.2.3.4:1", None),
        (200, json!({"proxy": null}))
    );
    assert_err(
        b.call("POST", "/api/v3/proxies/failover/1.2.3.4:1", None),
        404,
        "PROXY_NOT_FOUND",
    );
    // Clusters.
    assert_err(
        b.call(
            "POST",
            "/api/v3/clusters/meta/c",
            Some(r#"{"node_number":4}"#),
        ),
        409,
        "ALREADY_EXISTED",
    );
    assert_err(
        b.call(
            "POST",
            "/api/v3/clusters/meta/bad.name",
            Some(r#"{"node_number":4}"#),
        ),
        400,
        "INVALID_CLUSTER_NAME",
    );
    assert_err(
        b.call("DELETE", "/api/v3/clusters/meta/bad.name", None),
        400,
        "INVALID_CLUSTER_NAME",
    );
    assert_err(
        b.call(
            "POST",
            "/api/v3/clusters/meta/d",
            Some(r#"{"node_number":6}"#),
        ),
        400,
        "INVALID_NODE_NUMBER",
    );
    assert_err(
        b.call(
            "POST",
            "/api/v3/clusters/meta/d",
            Some(r#"{"node_number":8}"#),
        ),
        409,
        "NO_AVAILABLE_RESOURCE",
    );
    assert_err(
        b.call("DELETE", "/api/v3/clusters/meta/nope", None),
        404,
        "CLUSTER_NOT_FOUND",
    );
    assert_err(
        b.call("GET", "/api/v3/clusters/info/nope", None),
        404,
        "CLUSTER_NOT_FOUND",
    );
    assert_eq!(
        b.call("GET", "/api/v3/clusters/meta/nope", None),
        (200, json!({"cluster": null}))
    );
    assert_err(
        b.call(
            "PATCH",
            "/api/v3/clusters/nodes/nope",
            Some(r#"{"node_number":4}"#),
        ),
        404,
        "CLUSTER_NOT_FOUND",
    );
    assert_err(
        b.call(
            "PATCH",
            "/api/v3/clusters/nodes/c",
            Some(r#"{"node_number":3}"#),
        ),
        400,
        "INVALID_NODE_NUMBER",
    );
    assert_err(
        b.call(
            "PUT",
            "/api/v3/clusters/nodes/c",
            Some(r#"{"cluster_node_number":4}"#),
        ),
        409,
        "NODE_NUM_ALREADY_ENOUGH",
    );
    assert_err(
        b.call(
            "PATCH",
            "/api/v3/clusters/nodes/c",
            Some(r#"{"node_number":8}"#),
        ),
        409,
        "NO_AVAILABLE_RESOURCE",
    );
    assert_err(
        b.call("POST", "/api/v3/clusters/migrations/expand/c", None),
        400,
        "SLOTS_ALREADY_EVEN",
    );
    assert_err(
        b.call("DELETE", "/api/v3/clusters/free_nodes/c", None),
        404,
        "FREE_NODE_NOT_FOUND",
    );
    assert_err(
        b.call("POST", "/api/v3/clusters/migrations/shrink/c/4", None),
        400,
        "INVALID_NODE_NUMBER",
    );
    // Config.
    assert_eq!(
        b.call(
            "PATCH",
            "/api/v3/clusters/config/c",
            Some(r#"{"compression_strategy":"set_get_only"}"#)
        )
        .0,
        200
    );
    assert_eq!(
        b.call(
            "PATCH",
            "/api/v3/clusters/config/c",
            Some(r#"{"compression_strategy":"zip"}"#)
        ),
        (
            400,
            json!({"error":"INVALID_CONFIG","key":"compression_strategy","value":"zip","message":"INVALID_VALUE"})
        )
    );
    assert_eq!(
        b.call(
            "PATCH",
            "/api/v3/clusters/config/c",
            Some(r#"{"nope":"1"}"#)
        )
        .1["message"],
        "FIELD_NOT_FOUND"
    );
    assert_eq!(
        b.call(
            "PATCH",
            "/api/v3/clusters/config/c",
            Some(r#"{"migration_scan_count":32}"#)
        )
        .0,
        400
    );
    // Scale: add 4 nodes, expand, then everything that a running migration refuses.
    assert_eq!(
        b.call(
            "PUT",
            "/api/v3/clusters/nodes/c",
            Some(r#"{"cluster_node_number":8}"#)
        )
        .0,
        200
    );
    assert_err(
        b.call("POST", "/api/v3/clusters/migrations/shrink/c/4", None),
        409,
        "FREE_NODE_FOUND",
    );
    assert_eq!(
        b.call("POST", "/api/v3/clusters/migrations/expand/c", None)
            .0,
        200
    );
    assert_err(
        b.call("POST", "/api/v3/clusters/migrations/expand/c", None),
        409,
        "MIGRATION_RUNNING",
    );
    assert_err(
        b.call(
            "PATCH",
            "/api/v3/clusters/nodes/c",
            Some(r#"{"node_number":4}"#),
        ),
        409,
        "MIGRATION_RUNNING",
    );
    assert_err(
        b.call("DELETE", "/api/v3/clusters/free_nodes/c", None),
        409,
        "MIGRATION_RUNNING",
    );
    assert_err(
        b.call(
            "PATCH",
            "/api/v3/clusters/config/c",
            Some(r#"{"compression_strategy":"disabled"}"#),
        ),
        409,
        "MIGRATION_RUNNING",
    );
    let task =
        json!({"cluster_name":"c","slot_range":{"range_list":[[1,2]],"tag":"None"}}).to_string();
    assert_err(
        b.call("PUT", "/api/v3/clusters/migrations", Some(&task)),
        400,
        "INVALID_MIGRATION_TASK",
    );
    let task = json!({"cluster_name":"c","slot_range":{"range_list":[[1,2]],"tag":{"Migrating":{
        "epoch":1,"src_proxy_address":"a:1","src_node_address":"a:2","dst_proxy_address":"b:1","dst_node_address":"b:2"}}}})
    .to_string();
    assert_err(
        b.call("PUT", "/api/v3/clusters/migrations", Some(&task)),
        404,
        "MIGRATION_TASK_NOT_FOUND",
    );
    let task = task.replace("\"c\"", "\"nope\"");
    assert_err(
        b.call("PUT", "/api/v3/clusters/migrations", Some(&task)),
        404,
        "CLUSTER_NOT_FOUND",
    );
    // Epochs and metadata.
    assert_err(
        b.call("PUT", "/api/v3/epoch/1", None),
        409,
        "EPOCH_SMALLER_THAN_CURRENT",
    );
    let (_, mut meta) = b.call("GET", "/api/v3/metadata", None);
    assert_eq!(meta["version"], "mem-broker-0.2");
    meta["global_epoch"] = json!(1);
    assert_err(
        b.call("PUT", "/api/v3/metadata", Some(&meta.to_string())),
        409,
        "EPOCH_SMALLER_THAN_CURRENT",
    );
    meta["version"] = json!("x");
    assert_err(
        b.call("PUT", "/api/v3/metadata", Some(&meta.to_string())),
        409,
        "INVALID_META_VERSION",
    );
    assert_eq!(b.call("PUT", "/api/v3/epoch/100000", None).0, 200);
    let (_, view) = b.call("GET", "/api/v3/clusters/meta/c", None);
    assert_eq!(view["cluster"]["epoch"], 100000);
}

#[test]
fn failover_without_resource_keeps_takeover_and_recovered_proxy_comes_back() {
    let b = BrokerProc::start(&[]);
    for (port, host) in [(6001, "h1"), (6002, "h2")] {
        add_proxy(&b, "v3", port, host);
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
        b.call("POST", "/api/v3/proxies/failover/127.0.0.1:6001", None),
        409,
        "NO_AVAILABLE_RESOURCE",
    );
    let (_, view) = b.call("GET", "/api/v3/clusters/meta/c", None);
    let m = masters(&view["cluster"]);
    assert!(
        m.iter().all(|(p, _)| p == "127.0.0.1:6002"),
        "takeover kept: {m:?}"
    );
    assert_eq!(b.call("PUT", "/api/v3/clusters/balance/c", None).0, 200);
    let (_, view) = b.call("GET", "/api/v3/clusters/meta/c", None);
    assert_eq!(masters(&view["cluster"])[0].0, "127.0.0.1:6001");
    assert_err(
        b.call("PUT", "/api/v3/clusters/balance/nope", None),
        404,
        "CLUSTER_NOT_FOUND",
    );
    // A free proxy failed over, then re-registered: 409 but no longer failed.
    add_proxy(&b, "v3", 6003, "h3");
    assert_eq!(
        b.call("POST", "/api/v3/proxies/failover/127.0.0.1:6003", None),
        (200, json!({"proxy": null}))
    );
    assert_eq!(
        b.call("GET", "/api/v3/proxies/failed/addresses", None).1,
        json!({"addresses": ["127.0.0.1:6003"]})
    );
    assert_err(add_proxy(&b, "v3", 6003, "h3"), 409, "ALREADY_EXISTED");
    assert_eq!(
        b.call("GET", "/api/v3/proxies/failed/addresses", None).1,
        json!({"addresses": []})
    );
    assert_eq!(
        b.call("DELETE", "/api/v3/proxies/meta/127.0.0.1:6003", None)
            .0,
        200
    );
    // Failure reports and the resource check.
    assert_eq!(
        b.call("POST", "/api/v3/failures/127.0.0.1:6001/c1", None),
        (200, Value::Null)
    );
    assert_eq!(
        b.call("GET", "/api/v3/failures", None).1,
        json!({"addresses": ["127.0.0.1:6001"]})
    );
    let (status, check) = b.call("POST", "/api/v3/resources/failures/check", None);
    assert_eq!(status, 200);
    assert_eq!(check["hosts_cannot_fail"].as_array().unwrap().len(), 2);
    // Delete the cluster: proxies free again; a second delete is 404.
    assert_eq!(b.call("DELETE", "/api/v3/clusters/meta/c", None).0, 200);
    assert_eq!(
        b.call("GET", "/api/v3/proxies/meta/127.0.0.1:6001", None).1["proxy"]["cluster_name"],
        Value::Null
    );
    assert_err(
        b.call("DELETE", "/api/v3/clusters/meta/c", None),
        404,
        "CLUSTER_NOT_FOUND",
    );
}

#[test]
fn failure_quorum_needs_distinct_reporters() {
    let b = BrokerProc::start(&[("failure_quorum", "2")]);
    add_proxy(&b, "v3", 6001, "h1");
    b.call("POST", "/api/v3/failures/127.0.0.1:6001/c1", None);
    b.call("POST", "/api/v3/failures/127.0.0.1:6001/c1", None);
    assert_eq!(
        b.call("GET", "/api/v3/failures", None).1,
        json!({"addresses": []})
    );
    b.call("POST", "/api/v3/failures/127.0.0.1:6001/c2", None);
    assert_eq!(
        b.call("GET", "/api/v3/failures", None).1,
        json!({"addresses": ["127.0.0.1:6001"]})
    );
}

#[test]
fn migration_limit_zero_shows_every_migration() {
    let b = BrokerProc::start(&[("migration_limit", "0")]);
    for (port, host) in [(6001, "h1"), (6002, "h2"), (6003, "h3"), (6004, "h4")] {
        add_proxy(&b, "v3", port, host);
    }
    b.call(
        "POST",
        "/api/v3/clusters/meta/c",
        Some(r#"{"node_number":4}"#),
    );
    b.call(
        "PATCH",
        "/api/v3/clusters/nodes/c",
        Some(r#"{"node_number":4}"#),
    );
    b.call("POST", "/api/v3/clusters/migrations/expand/c", None);
    let (_, view) = b.call("GET", "/api/v3/clusters/meta/c", None);
    let tagged = masters(&view["cluster"])
        .iter()
        .filter(|m| m.1.as_array().unwrap().iter().any(|s| s["tag"] != "None"))
        .count();
    assert_eq!(tagged, 4);
    let (_, info) = b.call("GET", "/api/v3/clusters/info/c", None);
    assert_eq!(info["is_migrating"], true);
}

#[test]
fn bad_input_gets_4xx_json_and_the_broker_keeps_serving() {
    let b = BrokerProc::start(&[]);
    let bad = |method: &str, path: &str, body: Option<&str>, status: u16| {
        let (s, v) = b.call(method, path, body);
        assert_eq!(s, status, "{method} {path}: {v}");
        assert!(v["error"].is_string(), "{method} {path}: {v}");
    };
    bad("POST", "/api/v3/proxies/meta", Some("{not json"), 400);
    bad(
        "POST",
        "/api/v3/proxies/meta",
        Some(r#"{"proxy_address":1,"nodes":["a:1","b:2"]}"#),
        400,
    );
    bad(
        "POST",
        "/api/v3/proxies/meta",
        Some(r#"{"proxy_address":"a:1","nodes":["a:1"]}"#),
        400,
    );
    bad(
        "POST",
        "/api/v3/proxies/meta",
        Some(r#"{"proxy_address":"a:1","nodes":["a:1","b:2"],"x":1}"#),
        400,
    );
    bad(
        "POST",
        "/api/v3/clusters/meta/c",
        Some(r#"{"node_number":-4}"#),
        400,
    );
    bad("POST", "/api/v3/clusters/meta/c", None, 400);
    bad("PUT", "/api/v3/epoch/abc", None, 400);
    bad("GET", "/api/v3/clusters/names?offset=x", None, 400);
    bad(
        "PUT",
        "/api/v3/metadata",
        Some(r#"{"version":"mem-broker-0.2"}"#),
        400,
    );
    bad("GET", "/api/v3/nope", None, 404);
    bad("GET", "/nope", None, 404);
    bad("GET", "/api/v1/version", None, 404);
    bad("DELETE", "/api/v3/epoch", None, 405);
    bad("POST", "/api/v3/clusters/names", None, 405);
    bad("GET", "/api/v3/proxies/meta/%zz", None, 400);
    let huge = vec![b'x'; broker::http::server::MAX_BODY + 1];
    let r = b.raw("PUT", "/api/v3/metadata", &[], Some(&huge));
    assert_eq!(r.status, 413);
    assert_eq!(decode(&r)["error"], "PAYLOAD_TOO_LARGE");
    // Still serving.
    let r = b.raw("GET", "/api/v3/version", &[], None);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"0.6.2"[..]));
}

#[test]
fn gzip_only_when_accepted() {
    let b = BrokerProc::start(&[]);
    add_proxy(&b, "v3", 6001, "h1");
    let path = "/api/v3/proxies/meta/127.0.0.1:6001";
    let plain = b.raw("GET", path, &[], None);
    assert_eq!(plain.header("content-encoding"), None);
    // Fields in the original's order (struct order, not alphabetical).
    let text = String::from_utf8(plain.body.clone()).unwrap();
    assert!(
        text.starts_with(r#"{"proxy":{"cluster_name":null,"address":"127.0.0.1:6001","epoch":1,"nodes":[{"address":"127.0.0.1:7001","proxy_address":"127.0.0.1:6001","slots":[],"repl":{"role":"master","peers":[]}}"#),
        "{text}"
    );
    let zipped = b.raw("GET", path, &[("Accept-Encoding", "deflate, gzip")], None);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(decode(&zipped), decode(&plain));
    let refused = b.raw("GET", path, &[("Accept-Encoding", "gzip;q=0")], None);
    assert_eq!(refused.header("content-encoding"), None);
    let small = b.raw(
        "GET",
        "/api/v3/proxies/addresses",
        &[("Accept-Encoding", "gzip")],
        None,
    );
    assert_eq!(small.header("content-encoding"), None);
}
