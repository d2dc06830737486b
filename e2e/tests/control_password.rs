//! Proxies with a `control_password` are managed by a coordinator that knows it: the
//! coordinator authenticates each new proxy connection, so the cluster is configured and
//! served, while a connection without the password cannot change any proxy's metadata.
// why: test helpers: a failed unwrap or index is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod support;
use control::client::resp::{call_once, Conn, Value};
use support::*;

const T: std::time::Duration = std::time::Duration::from_secs(5);
const SECRET: &str = "s3cret-control";

#[test]
fn a_coordinator_with_the_control_password_configures_guarded_proxies() {
    let env = [("UNDERMOON_CONTROL_PASSWORD", SECRET)];
    let d = Deployment::start_with(vec![broker(1)], 2, &env);
    let _coord = coordinator_with(
        &d.b(),
        "coord-1",
        free_port(),
        &[("UNDERMOON_CONTROL_PASSWORD", SECRET)],
    );
    d.create_cluster();

    let serving = d.cluster_proxies();
    let mut client = ClusterClient::new(serving.clone());
    write_keys(&mut client, 200);
    assert_eq!(missing_keys(&mut client, 200), Vec::<usize>::new());

    let p = &serving[0];
    // The broker's epoch probe needs no secret; metadata changes do.
    match call_once(p, &["UMCTL", "GETEPOCH"], T).unwrap() {
        Value::Int(e) => assert!(e > 0, "epoch {e}"),
        other => panic!("GETEPOCH: {other:?}"),
    }
    let wipe = ["UMCTL", "SETCLUSTER", "v2", "999999", "FORCE"];
    match call_once(p, &wipe, T).unwrap() {
        Value::Error(e) => assert!(e.starts_with("NOAUTH"), "{e}"),
        other => panic!("unauthenticated SETCLUSTER: {other:?}"),
    }
    let refused = Conn::connect_auth(p, T, Some("wrong"));
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::PermissionDenied)
    );
    assert_eq!(slots_served(port_of(p), &[]), 16384);
}
