//! A proxy SIGKILLed in the middle of a migration (issue #6, "done when"): a 4-node cluster
//! expands to 8 with slow pacing, and while a destination is copying, either the proxy the
//! range is leaving (source) or the one it is going to (destination) is killed; after failover
//! every slot is served, the migrations finish, and the writer's acknowledged writes are
//! checked. Killing the destination leaves part of the range on the destination's Redis and
//! part still on the source's: the promoted replica of the destination must carry on from there.
//!
//! What it asserts: 0 lost and 0 stale. The Redis processes survive a proxy kill, so the
//! replica that the failover promotes has every write the dead proxy's master acknowledged
//! (nothing writes there once the proxy is gone, and the promotion comes seconds later), so
//! the async-replication window is empty here and any loss would be the migration's fault.
//! Commands of unknown outcome (connection cut mid-command) are allowed either outcome;
//! commands the writer gave up on during the failover were never executed and are counted,
//! not asserted.
// why: test helpers: a failed unwrap or index is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod support;
use std::time::{Duration, Instant};
use support::*;
use testkit::cluster::{ClusterClient, Outcome};
use testkit::writer;

const PRELOAD: usize = 4000;
const LIMIT: Duration = Duration::from_secs(120);

fn tagged_source(d: &Deployment) -> Option<(String, String)> {
    let c = d.cluster();
    for n in c["nodes"].as_array().unwrap() {
        for s in n["slots"].as_array().unwrap() {
            if let Some(m) = s["tag"].get("Migrating") {
                return Some((
                    m["src_proxy_address"].as_str().unwrap().to_string(),
                    m["dst_proxy_address"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    None
}

fn info_text(proxy: &str) -> String {
    fn flat(v: &control::client::resp::Value, out: &mut String) {
        match v {
            control::client::resp::Value::Array(items) => items.iter().for_each(|i| flat(i, out)),
            other => {
                out.push_str(&other.text());
                out.push('\n');
            }
        }
    }
    let mut out = String::new();
    if let Ok(v) =
        control::client::resp::call_once(proxy, &["UMCTL", "INFO"], Duration::from_secs(5))
    {
        flat(&v, &mut out);
    }
    out
}

#[derive(Clone, Copy, Debug)]
enum Side {
    Source,
    Destination,
}

#[test]
fn killing_the_source_proxy_mid_migration_loses_no_acknowledged_write() {
    kill_mid_migration(Side::Source);
}

#[test]
fn killing_the_destination_proxy_mid_migration_loses_no_acknowledged_write() {
    kill_mid_migration(Side::Destination);
}

fn kill_mid_migration(side: Side) {
    let mut d = Deployment::start_on(vec![broker(1)], 5);
    let _coord = coordinator(&d.b(), "coord-1", free_port());
    d.create_cluster();
    // Slow pacing, so the copy is still running when the proxy dies.
    let (s, body) = api(
        &d.b(),
        "PATCH",
        "/clusters/config/mydb",
        Some(r#"{"migration_scan_count":"8","migration_scan_interval":"20000"}"#),
    );
    assert_eq!(s, 200, "config: {body}");
    let seeds: Vec<String> = d.proxies.iter().map(Proc::addr).collect();
    let mut c = ClusterClient::new(seeds.clone());
    for i in 0..PRELOAD {
        let k = format!("pre:{i}");
        assert!(matches!(c.run(&["SET", &k, &k]), Outcome::Reply(_, _)));
    }
    let w = writer::start(seeds.clone(), "kill", 100, Duration::from_millis(5));

    let (s, body) = api(
        &d.b(),
        "PATCH",
        "/clusters/nodes/mydb",
        Some(r#"{"node_number":4}"#),
    );
    assert_eq!(s, 200, "add nodes: {body}");
    std::thread::sleep(Duration::from_secs(2));
    let (s, body) = api(&d.b(), "POST", "/clusters/migrations/expand/mydb", None);
    assert_eq!(s, 200, "expand: {body}");
    let (src, dst) = tagged_source(&d).expect("a migration is running");
    wait_until("destination copying", LIMIT, || {
        info_text(&dst).contains(" PRE_SWITCH")
    });
    let victim = match side {
        Side::Source => src,
        Side::Destination => dst.clone(),
    };
    d.proxy_by_addr(&victim).kill();
    let t0 = Instant::now();
    let dead = vec![victim.clone()];
    let live: Vec<String> = seeds.iter().filter(|a| **a != victim).cloned().collect();
    wait_until("every slot served, migrations committed", LIMIT, || {
        let any = live.iter().find(|a| **a != dst).unwrap();
        slots_served(port_of(any), &dead) == 16384 && tagged_source(&d).is_none()
    });
    let recovered = t0.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let report = w.finish();

    let mut checker = ClusterClient::new(live.clone());
    let v = writer::check(&mut checker, "kill", &report);
    let mut pre_lost = Vec::new();
    for i in 0..PRELOAD {
        let k = format!("pre:{i}");
        match checker.run(&["GET", &k]) {
            Outcome::Reply(control::client::resp::Value::Bulk(b), _) if b == k.as_bytes() => {}
            other => pre_lost.push(format!("{k}: {other:?}")),
        }
    }
    println!(
        "kill {side:?} mid-migration: recovered in {recovered:?}; writer {} acked, {} unknown, {} given up \
         ({:?}); lost {} stale {} unreadable {}; preloaded keys lost {}",
        report.acked,
        report.unknown,
        report.errors.len(),
        report.errors.first(),
        v.lost.len(),
        v.stale.len(),
        v.unreadable.len(),
        pre_lost.len()
    );
    assert!(report.acked > 500, "writer made progress");
    assert!(v.lost.is_empty() && v.stale.is_empty(), "{v:?}");
    assert!(v.unreadable.is_empty(), "{:?}", v.unreadable);
    assert!(
        pre_lost.is_empty(),
        "{:?}",
        &pre_lost[..pre_lost.len().min(5)]
    );
    assert!(report.incr_gaps.is_empty(), "{:?}", report.incr_gaps);
}
