//! After a failover the replacement proxy holds only replicas. Killing it must not interrupt
//! service (no slot lives there, and no free proxy is left to replace it); when it comes back
//! on the same address and is re-registered, the coordinator configures it again and its
//! Redis nodes are synced replicas of the right masters.
// why: test helpers: a failed unwrap or index is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod support;
use support::*;

const KEYS: usize = 1000;

#[test]
fn a_replica_only_proxy_can_die_and_come_back() {
    let mut d = Deployment::start(1);
    let _coord = coordinator(&d.b(), "coord-1", free_port());
    d.create_cluster();
    let serving = d.cluster_proxies();
    let spare = d
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
    wait_until("first failover done", READY_TIMEOUT, || {
        slots_served(port_of(&survivor), std::slice::from_ref(&victim)) == 16384
            && replacement_in_place(&d.b(), &spare)
    });
    client.set_seeds(vec![survivor.clone()]);

    // Kill the proxy that now holds only replicas: every key still reads and writes.
    let port = port_of(&spare);
    d.proxy_by_addr(&spare).kill();
    assert_eq!(missing_keys(&mut client, KEYS), Vec::<usize>::new());
    write_keys(&mut client, KEYS);
    wait_until("its failure reported", READY_TIMEOUT, || {
        let (_, j) = api(&d.b(), "GET", "/metadata", None);
        j["failures"][&spare].is_object()
            || addresses(&d.b(), "/proxies/failed/addresses").contains(&spare)
    });
    assert_eq!(missing_keys(&mut client, KEYS), Vec::<usize>::new());

    // Back on the same address, re-registered (409 ALREADY_EXISTED, which clears its failure):
    // the coordinator pushes its metadata again and its nodes are replicas again.
    let _back = proxy_on(port);
    let (_, j) = api(&d.b(), "GET", &format!("/proxies/meta/{spare}"), None);
    let nodes: Vec<String> = j["proxy"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["address"].as_str().unwrap().to_string())
        .collect();
    let (_, meta) = api(&d.b(), "GET", "/metadata", None);
    let host = meta["all_proxies"][&spare]["host"]
        .as_str()
        .unwrap()
        .to_string();
    let body = format!(
        r#"{{"proxy_address":"{spare}","nodes":["{}","{}"],"host":"{host}"}}"#,
        nodes[0], nodes[1]
    );
    let (status, _) = api(&d.b(), "POST", "/proxies/meta", Some(&body));
    assert!(status == 200 || status == 409, "re-register: {status}");
    wait_until("replica-only proxy back in place", READY_TIMEOUT, || {
        !addresses(&d.b(), "/proxies/failed/addresses").contains(&spare)
            && replacement_in_place(&d.b(), &spare)
            && matches!(
                control::client::resp::call_once(
                    &spare,
                    &["UMCTL", "INFOREPL"],
                    std::time::Duration::from_secs(5)
                ),
                Ok(control::client::resp::Value::Array(a)) if a.len() == 2
            )
    });
    assert_eq!(missing_keys(&mut client, KEYS), Vec::<usize>::new());
}
