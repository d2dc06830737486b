//! Failure quorum across coordinators (broker `failure_quorum = 2`): one coordinator's report
//! is not enough to fail a proxy over; a second coordinator's report is, and the same failover
//! as with one coordinator and quorum 1 follows.
// why: test helpers: a failed unwrap or index is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod support;
use std::time::{Duration, Instant};
use support::*;

const KEYS: usize = 1000;
/// Detection rounds to watch for a failover that must not happen. why: with `proxy_timeout =
/// 1` and 1 s rounds, a quorum-1 broker fails over in about 1-2 s; 6 s is several rounds.
const QUIET: Duration = Duration::from_secs(6);

fn failure_reporters(broker: &str, proxy: &str) -> usize {
    let (_, j) = api(broker, "GET", "/metadata", None);
    j["failures"][proxy].as_object().map_or(0, |m| m.len())
}

#[test]
fn one_report_is_not_a_quorum_two_are() {
    let mut d = Deployment::start(2);
    let _c1 = coordinator(&d.b(), "coord-1", free_port());
    d.create_cluster();
    let serving = d.cluster_proxies();
    let free = d
        .proxies
        .iter()
        .map(Proc::addr)
        .find(|a| !serving.contains(a))
        .unwrap();
    let (victim, survivor) = (serving[0].clone(), serving[1].clone());
    let mut client = ClusterClient::new(serving.clone());
    write_keys(&mut client, KEYS);
    d.wait_replicated();

    d.proxy_by_addr(&victim).kill();
    wait_until("coord-1 reports the failure", READY_TIMEOUT, || {
        failure_reporters(&d.b(), &victim) == 1
    });
    let start = Instant::now();
    while start.elapsed() < QUIET {
        assert!(
            addresses(&d.b(), "/failures").is_empty(),
            "one reporter must not reach quorum 2"
        );
        assert!(!addresses(&d.b(), "/proxies/failed/addresses").contains(&victim));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        d.cluster_proxies(),
        serving,
        "no failover with one reporter"
    );

    let _c2 = coordinator(&d.b(), "coord-2", free_port());
    let t0 = Instant::now();
    wait_until("failover after the second report", READY_TIMEOUT, || {
        slots_served(port_of(&survivor), std::slice::from_ref(&victim)) == 16384
            && replacement_in_place(&d.b(), &free)
    });
    println!(
        "quorum 2: second coordinator -> replacement in place {:?}",
        t0.elapsed()
    );
    client.set_seeds(vec![survivor, free]);
    assert_eq!(missing_keys(&mut client, KEYS), Vec::<usize>::new());
    assert!(addresses(&d.b(), "/proxies/failed/addresses").contains(&victim));
}
