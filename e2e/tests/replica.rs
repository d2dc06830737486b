//! A Redis replica that dies does not interrupt service, and when it comes back (empty, as a
//! master) its proxy's replicator makes it a replica again and it re-syncs, without any
//! coordinator or operator action. The coordinator runs with `enable_compression`.
// why: test helpers: a failed unwrap or index is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod support;
use control::client::resp::{call_once, Value};
use std::time::Duration;
use support::*;

const KEYS: usize = 1000;

#[test]
fn a_dead_replica_does_not_interrupt_service_and_resyncs() {
    let mut d = Deployment::start(1);
    // With compression: every push of this test is a gzip read from the broker and a
    // SETCLUSTER in the COMPRESS form, and the cluster must serve as usual.
    let _coord = coordinator_with(
        &d.b(),
        "coord-1",
        free_port(),
        &[("UNDERMOON_ENABLE_COMPRESSION", "true")],
    );
    d.create_cluster();
    let mut client = ClusterClient::new(d.cluster_proxies());
    write_keys(&mut client, KEYS);
    d.wait_replicated();

    let cluster = d.cluster();
    let replica = cluster["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["repl"]["role"] == "replica")
        .unwrap()
        .clone();
    let addr = replica["address"].as_str().unwrap().to_string();
    let master = replica["repl"]["peers"][0]["node_address"]
        .as_str()
        .unwrap()
        .to_string();
    let idx = d.redis.iter().position(|r| r.addr() == addr).unwrap();
    let port = d.redis[idx].port;
    d.redis[idx].kill();

    // Service goes on: reads and writes of every key.
    assert_eq!(missing_keys(&mut client, KEYS), Vec::<usize>::new());
    write_keys(&mut client, KEYS);

    // Back on the same port, empty: it becomes a replica of the same master and re-syncs.
    d.redis[idx] = redis_on(port);
    let master_keys = || match call_once(&master, &["DBSIZE"], Duration::from_secs(5)) {
        Ok(Value::Int(n)) => n,
        _ => -1,
    };
    wait_until("restarted replica re-synced", READY_TIMEOUT, || {
        let info = info_replication(&addr);
        field(&info, "role") == "slave"
            && format!(
                "{}:{}",
                field(&info, "master_host"),
                field(&info, "master_port")
            ) == master
            && field(&info, "master_link_status") == "up"
            && call_once(&addr, &["DBSIZE"], Duration::from_secs(5)).ok()
                == Some(Value::Int(master_keys()))
    });
    assert!(master_keys() > 0);
}
