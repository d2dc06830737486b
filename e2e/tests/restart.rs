//! A coordinator killed in the middle of a failover and started again finishes the job: it
//! keeps no state between rounds, everything it needs is in the broker and the proxies.
//! The restarted one runs with `enable_compression` (the two coordinators mixing forms must
//! not matter) and a broker list whose first broker is down.
// why: test helpers: a failed unwrap or index is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod support;
use support::*;

const KEYS: usize = 1000;

#[test]
fn a_restarted_coordinator_finishes_the_failover() {
    let mut d = Deployment::start(1);
    let coord_port = free_port();
    let mut coord = coordinator(&d.b(), "coord-1", coord_port);
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
    // Kill the coordinator as soon as the broker has the failure report, i.e. mid-failover.
    // why: the report is visible until the broker drops it one failover later; accepting the
    // failed list too means a loaded machine cannot make this poll miss it.
    wait_until("failure reported", READY_TIMEOUT, || {
        let (_, j) = api(&d.b(), "GET", "/metadata", None);
        j["failures"][&victim].is_object()
            || addresses(&d.b(), "/proxies/failed/addresses").contains(&victim)
    });
    coord.kill();
    // The new one speaks the compressed forms; whatever the first one already pushed stays.
    // Its broker list starts with a dead broker: requests go on to the live one.
    let brokers = format!("127.0.0.1:{},{}", free_port(), d.b());
    let _coord = coordinator_with(
        &brokers,
        "coord-1",
        coord_port,
        &[("UNDERMOON_ENABLE_COMPRESSION", "true")],
    );
    wait_until("failover finished", READY_TIMEOUT, || {
        slots_served(port_of(&survivor), std::slice::from_ref(&victim)) == 16384
            && replacement_in_place(&d.b(), &free)
    });
    client.set_seeds(vec![survivor, free]);
    assert_eq!(missing_keys(&mut client, KEYS), Vec::<usize>::new());
    assert!(addresses(&d.b(), "/proxies/failed/addresses").contains(&victim));
}
