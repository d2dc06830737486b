//! Scaling through the broker and coordinator (issue #6, "done when"): a 4-node cluster grows
//! to 8 nodes and shrinks back to 4 while a writer does SET + INCR on its own keys through a
//! cluster client following MOVED/ASK/TRYAGAIN; every acknowledged write is there afterwards
//! (0 lost, 0 stale) and the writer saw no error other than redirects it retried.
// why: test helpers: a failed unwrap or index is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod support;
use std::time::{Duration, Instant};
use support::*;
use testkit::cluster::ClusterClient;
use testkit::writer;

/// Bound of each scaling step (expand or shrink) under a loaded 2-core machine.
const STEP_LIMIT: Duration = Duration::from_secs(120);

/// True while the cluster has a range tagged migrating or importing.
fn migrating(d: &Deployment) -> bool {
    let c = d.cluster();
    c["nodes"].as_array().unwrap().iter().any(|n| {
        n["slots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["tag"] != "None")
    })
}

/// Masters owning slots.
fn owners(d: &Deployment) -> usize {
    let c = d.cluster();
    c["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| !n["slots"].as_array().unwrap().is_empty())
        .count()
}

fn wait_settled(d: &Deployment, what: &str) -> Duration {
    let t0 = Instant::now();
    // why: the broker tags ranges synchronously; wait for the coordinator to commit them all.
    wait_until(what, STEP_LIMIT, || !migrating(d));
    t0.elapsed()
}

#[test]
fn scale_4_to_8_and_back_under_a_writer_loses_nothing() {
    let d = Deployment::start_on(vec![broker(1)], 4);
    let _coord = coordinator(&d.b(), "coord-1", free_port());
    d.create_cluster();
    let seeds = d.proxies.iter().map(Proc::addr).collect::<Vec<_>>();
    let w = writer::start(seeds.clone(), "scale", 200, Duration::ZERO);
    std::thread::sleep(Duration::from_millis(500));

    let (s, body) = api(
        &d.b(),
        "PATCH",
        "/clusters/nodes/mydb",
        Some(r#"{"node_number":4}"#),
    );
    assert_eq!(s, 200, "add nodes: {body}");
    // Let every proxy of the cluster learn its new nodes before slots move to them.
    std::thread::sleep(Duration::from_secs(2));
    let (s, body) = api(&d.b(), "POST", "/clusters/migrations/expand/mydb", None);
    assert_eq!(s, 200, "expand: {body}");
    let grow = wait_settled(&d, "expand committed");
    assert_eq!(owners(&d), 4, "4 masters own slots after 4 -> 8");

    let (s, body) = api(&d.b(), "POST", "/clusters/migrations/shrink/mydb/4", None);
    assert_eq!(s, 200, "shrink: {body}");
    let shrink = wait_settled(&d, "shrink committed");
    assert_eq!(owners(&d), 2, "2 masters own slots after 8 -> 4");
    let (s, body) = api(&d.b(), "DELETE", "/clusters/free_nodes/mydb", None);
    assert_eq!(s, 200, "delete free nodes: {body}");
    std::thread::sleep(Duration::from_millis(500));

    let report = w.finish();
    assert!(
        report.acked > 1000,
        "writer made progress: {}",
        report.acked
    );
    assert!(
        report.errors.is_empty(),
        "{} errors, e.g. {:?}",
        report.errors.len(),
        &report.errors[..report.errors.len().min(5)]
    );
    assert_eq!(report.unknown, 0, "no command of unknown outcome");
    assert!(report.incr_gaps.is_empty(), "{:?}", report.incr_gaps);
    let mut checker = ClusterClient::new(d.cluster_proxies());
    let v = writer::check(&mut checker, "scale", &report);
    assert!(
        v.lost.is_empty() && v.stale.is_empty() && v.unreadable.is_empty(),
        "{v:?}"
    );
    println!(
        "scale: 4->8 {grow:?}, 8->4 {shrink:?}; writer {} acked, {} redirects",
        report.acked, report.redirects
    );
}
