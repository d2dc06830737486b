//! The "done when": broker + coordinator + 3 proxies on 3 fake hosts (2 Redis each),
//! a 4-node cluster, 10,000 keys through a cluster client, SIGKILL one serving proxy. Within
//! 30 s every slot is served again, every key reads back its value, and the free proxy has
//! replaced the failed one with its Redis nodes as synced replicas of the right masters.
//!
//! Run with `--nocapture` to see the measured times (kill -> all slots served, kill ->
//! replacement in place).
// why: test helpers: a failed unwrap or index is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod support;
use std::time::{Duration, Instant};
use support::*;

const KEYS: usize = 10_000;
/// The bound for "every slot is served" after the kill.
const FAILOVER_LIMIT: Duration = Duration::from_secs(30);

#[test]
fn killing_a_serving_proxy_fails_over_without_losing_a_key() {
    let mut d = Deployment::start(1);
    let _coord = coordinator(&d.b(), "coord-1", free_port());
    d.create_cluster();
    let serving = d.cluster_proxies();
    assert_eq!(
        serving.len(),
        2,
        "a 4-node cluster is one chunk on 2 proxies"
    );
    let free = d
        .proxies
        .iter()
        .map(Proc::addr)
        .find(|a| !serving.contains(a))
        .unwrap();
    let (victim, survivor) = (serving[0].clone(), serving[1].clone());

    let mut client = ClusterClient::new(serving.clone());
    write_keys(&mut client, KEYS);
    // Asynchronous replication: wait until every replica has every acknowledged write.
    d.wait_replicated();

    let t0 = Instant::now();
    d.proxy_by_addr(&victim).kill();
    let dead = vec![victim.clone()];
    wait_until("every slot served by a live proxy", FAILOVER_LIMIT, || {
        slots_served(port_of(&survivor), &dead) == 16384 && client.cmd(&["GET", &key(0)]).is_ok()
    });
    let served = t0.elapsed();
    wait_until("replacement in place", FAILOVER_LIMIT, || {
        replacement_in_place(&d.b(), &free)
    });
    let replaced = t0.elapsed();
    // Every slot: each one answers through the live proxies (a key per slot range is not
    // enough; read them all).
    client.set_seeds(vec![survivor.clone(), free.clone()]);
    let missing = missing_keys(&mut client, KEYS);
    assert!(
        missing.is_empty(),
        "{} keys lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(
        addresses(&d.b(), "/proxies/failed/addresses").contains(&victim),
        "failed proxy listed"
    );
    let mut now_serving = d.cluster_proxies();
    now_serving.sort();
    let mut want = vec![survivor.clone(), free.clone()];
    want.sort();
    assert_eq!(now_serving, want);
    // The replacement's Redis nodes hold the data too.
    let (_, j) = api(&d.b(), "GET", &format!("/proxies/meta/{free}"), None);
    for n in j["proxy"]["nodes"].as_array().unwrap() {
        let a = n["address"].as_str().unwrap();
        wait_until("replica has keys", READY_TIMEOUT, || {
            matches!(
                control::client::resp::call_once(a, &["DBSIZE"], Duration::from_secs(5)),
                Ok(control::client::resp::Value::Int(k)) if k > 0
            )
        });
    }
    println!(
        "failover: kill -> all slots served {served:?}; kill -> replacement in place {replaced:?}"
    );
    assert!(served < FAILOVER_LIMIT);
}
