//! Walks the seed README ("set up undermoon manually") against the real binary, with the
//! `/api/v2` paths it uses.
// why: test helpers outside #[test] fns may fail loudly; a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use support::*;

fn proxies_of(cluster: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in cluster["nodes"].as_array().unwrap() {
        let p = n["proxy_address"].as_str().unwrap().to_string();
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    out
}

fn host_of(b: &BrokerProc, proxy: &str) -> String {
    let (_, meta) = b.call("GET", "/api/v2/metadata", None);
    meta["all_proxies"][proxy]["host"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn seed_readme_walkthrough_with_v2_paths() {
    let b = BrokerProc::start(&[]);
    // Register 6 proxies, two per host.
    for (i, port) in (6001..=6006).enumerate() {
        let host = format!("localhost{}", i / 2 + 1);
        let (status, body) = add_proxy(&b, "v2", port, &host);
        assert_eq!((status, body), (200, Value::Null));
    }
    assert_eq!(b.call("GET", "/api/v2/epoch", None), (200, json!(6)));
    let (status, list) = b.call("GET", "/api/v2/proxies/addresses", None);
    assert_eq!(status, 200);
    assert_eq!(list["addresses"].as_array().unwrap().len(), 6);
    let (_, page) = b.call("GET", "/api/v2/proxies/addresses?offset=0&limit=1", None);
    assert_eq!(page["addresses"].as_array().unwrap().len(), 1);

    // A free proxy's view.
    let (status, free) = b.call("GET", "/api/v2/proxies/meta/127.0.0.1:6001", None);
    assert_eq!(status, 200);
    assert_eq!(free["proxy"]["cluster_name"], Value::Null);
    assert_eq!(free["proxy"]["cluster_config"], Value::Null);
    assert_eq!(free["proxy"]["epoch"], 6);
    assert_eq!(free["proxy"]["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(
        free["proxy"]["nodes"][0]["repl"],
        json!({"role": "master", "peers": []})
    );

    // Create a 4-node cluster.
    let (status, _) = b.call(
        "POST",
        "/api/v2/clusters/meta/mycluster",
        Some(r#"{"node_number": 4}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(
        b.call("GET", "/api/v2/clusters/names", None),
        (200, json!({"names": ["mycluster"]}))
    );
    let (_, view) = b.call("GET", "/api/v2/clusters/meta/mycluster", None);
    let cluster = &view["cluster"];
    // The coordinator reads these with the shared model types.
    let typed: control::model::Cluster = serde_json::from_value(cluster.clone()).unwrap();
    assert_eq!(typed.nodes.len(), 4);
    assert_eq!(cluster["epoch"], 7);
    assert_eq!(cluster["nodes"].as_array().unwrap().len(), 4);
    let m = masters(cluster);
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].1, json!([{"range_list": [[0, 8191]], "tag": "None"}]));
    assert_eq!(
        m[1].1,
        json!([{"range_list": [[8192, 16383]], "tag": "None"}])
    );
    assert_ne!(m[0].0, m[1].0);
    assert_ne!(host_of(&b, &m[0].0), host_of(&b, &m[1].0));
    for n in cluster["nodes"].as_array().unwrap() {
        let peers = n["repl"]["peers"].as_array().unwrap();
        assert_eq!(peers.len(), 1);
        assert_ne!(
            peers[0]["proxy_address"], n["proxy_address"],
            "replica on the other proxy"
        );
        if n["repl"]["role"] == "replica" {
            assert_eq!(n["slots"], json!([]));
        }
    }
    assert_eq!(
        b.call("GET", "/api/v2/clusters/info/mycluster", None),
        (
            200,
            json!({"name": "mycluster", "node_number": 4, "node_number_with_slots": 4, "is_migrating": false})
        )
    );
    // Each proxy view: its own 2 nodes, the other proxy as peer.
    let (_, pv) = b.call("GET", &format!("/api/v2/proxies/meta/{}", m[0].0), None);
    let typed: control::model::Proxy = serde_json::from_value(pv["proxy"].clone()).unwrap();
    assert_eq!(typed.peers.len(), 1);
    assert_eq!(pv["proxy"]["cluster_name"], "mycluster");
    assert_eq!(pv["proxy"]["epoch"], 7);
    assert_eq!(pv["proxy"]["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(pv["proxy"]["peers"][0]["proxy_address"], m[1].0.as_str());
    assert_eq!(pv["proxy"]["peers"][0]["slots"], m[1].1);

    // Scale up: add 4 nodes, then expand.
    let (status, added) = b.call(
        "PATCH",
        "/api/v2/clusters/nodes/mycluster",
        Some(r#"{"node_number": 4}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(added.as_array().unwrap().len(), 4);
    let (_, info) = b.call("GET", "/api/v2/clusters/info/mycluster", None);
    assert_eq!(
        (
            info["node_number"].clone(),
            info["node_number_with_slots"].clone()
        ),
        (json!(8), json!(4))
    );
    assert_eq!(
        b.call("POST", "/api/v2/clusters/migrations/expand/mycluster", None)
            .0,
        200
    );
    let (_, view) = b.call("GET", "/api/v2/clusters/meta/mycluster", None);
    let tagged: Vec<Value> = view["cluster"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["slots"].as_array().unwrap().clone())
        .filter(|s| s["tag"] != "None")
        .collect();
    assert!(!tagged.is_empty(), "tagged ranges appear");
    assert!(tagged.iter().any(|s| s["tag"].get("Migrating").is_some()));
    assert!(tagged.iter().any(|s| s["tag"].get("Importing").is_some()));

    // Commit what the proxies would report, as the migration limit reveals it.
    let mut rounds = 0;
    loop {
        let (_, view) = b.call("GET", "/api/v2/clusters/meta/mycluster", None);
        let ts = tasks(&view["cluster"]);
        if ts.is_empty() {
            break;
        }
        for t in ts {
            let body = t.to_string();
            assert_eq!(
                b.call("PUT", "/api/v2/clusters/migrations", Some(&body)),
                (200, Value::Null)
            );
            assert_err(
                b.call("PUT", "/api/v2/clusters/migrations", Some(&body)),
                404,
                "MIGRATION_TASK_NOT_FOUND",
            );
        }
        rounds += 1;
        assert!(rounds < 10);
    }
    let (_, view) = b.call("GET", "/api/v2/clusters/meta/mycluster", None);
    let slots: Vec<Value> = masters(&view["cluster"]).into_iter().map(|m| m.1).collect();
    assert_eq!(
        slots,
        [
            json!([{"range_list": [[0, 4095]], "tag": "None"}]),
            json!([{"range_list": [[8192, 12287]], "tag": "None"}]),
            json!([{"range_list": [[4096, 8191]], "tag": "None"}]),
            json!([{"range_list": [[12288, 16383]], "tag": "None"}]),
        ]
    );
    let before = proxies_of(&view["cluster"]);
    assert_eq!(before.len(), 4);

    // Failover one proxy: replaced from the free pool.
    let failed = before[0].clone();
    let (status, reply) = b.call("POST", &format!("/api/v2/proxies/failover/{failed}"), None);
    assert_eq!(status, 200);
    let replacement = reply["proxy"]["address"].as_str().unwrap().to_string();
    assert!(!before.contains(&replacement));
    let (_, view) = b.call("GET", "/api/v2/clusters/meta/mycluster", None);
    let after = proxies_of(&view["cluster"]);
    assert!(!after.contains(&failed));
    assert!(after.contains(&replacement));
    let hosts: BTreeSet<String> = view["cluster"]["nodes"].as_array().unwrap()[0..4]
        .iter()
        .map(|n| host_of(&b, n["proxy_address"].as_str().unwrap()))
        .collect();
    assert_eq!(hosts.len(), 2, "the repaired chunk still spans two hosts");
    assert_eq!(
        b.call("GET", "/api/v2/proxies/failed/addresses", None),
        (200, json!({"addresses": [failed]}))
    );

    // Delete the failed proxy.
    assert_eq!(
        b.call("DELETE", &format!("/api/v2/proxies/meta/{failed}"), None)
            .0,
        200
    );
    let (_, list) = b.call("GET", "/api/v2/proxies/addresses", None);
    assert_eq!(list["addresses"].as_array().unwrap().len(), 5);
    assert_eq!(
        b.call("GET", "/api/v2/proxies/failed/addresses", None),
        (200, json!({"addresses": []}))
    );
}
