//! Metrics of a whole deployment through a failover: broker + coordinator (both with
//! `metrics_address`) + 3 proxies on 3 fake hosts. After a serving proxy is SIGKILLed, the
//! coordinator's page shows the failure it saw, the failover it asked for and its pushes, and
//! the broker's shows the failed proxy and the failover request by route and status.
// why: test helpers: a failed unwrap or index is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod support;
use control::metrics::{parse, Sample};
use std::time::Duration;
use support::*;
use testkit::http_get;

fn scrape(addr: &str) -> Vec<Sample> {
    match http_get(addr, "/metrics") {
        Ok((200, body)) => parse(&body).unwrap().0,
        _ => Vec::new(),
    }
}

/// Sum of the samples named `name` whose labels include all of `labels`.
fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|s| s.value)
        .sum()
}

#[test]
fn coordinator_and_broker_metrics_show_a_failover() {
    let broker_metrics = addr(free_port());
    let coord_metrics = addr(free_port());
    let b = broker_with(1, &[("UNDERMOON_METRICS_ADDRESS", broker_metrics.as_str())]);
    let mut d = Deployment::start_on(vec![b], 3);
    let _coord = coordinator_with(
        &d.b(),
        "coord-1",
        free_port(),
        &[("UNDERMOON_METRICS_ADDRESS", coord_metrics.as_str())],
    );
    d.create_cluster();
    let limit = Duration::from_secs(30);
    wait_until("pushes counted", limit, || {
        // Both serving proxies and the free one get their metadata.
        total(
            &scrape(&coord_metrics),
            "undermoon_coordinator_pushes_total",
            &[("result", "ok")],
        ) >= 3.0
    });
    let victim = d.cluster_proxies()[0].clone();
    d.proxy_by_addr(&victim).kill();
    wait_until("failover counted", limit, || {
        let c = scrape(&coord_metrics);
        total(&c, "undermoon_coordinator_proxy_failures_seen_total", &[]) >= 1.0
            && total(
                &c,
                "undermoon_coordinator_failovers_total",
                &[("result", "ok")],
            ) >= 1.0
    });
    let c = scrape(&coord_metrics);
    for l in ["detect", "failover", "sync", "migrate"] {
        assert!(
            total(&c, "undermoon_coordinator_rounds_total", &[("loop", l)]) >= 1.0,
            "{l} rounds"
        );
    }
    let bm = scrape(&broker_metrics);
    assert_eq!(total(&bm, "undermoon_broker_failed_proxies", &[]), 1.0);
    assert_eq!(total(&bm, "undermoon_broker_proxies", &[]), 3.0);
    assert_eq!(total(&bm, "undermoon_broker_clusters", &[]), 1.0);
    let req = "undermoon_broker_requests_total";
    let failover = [
        ("method", "POST"),
        ("route", "proxies/failover/{}"),
        ("status", "200"),
    ];
    assert!(total(&bm, req, &failover) >= 1.0);
    let reports = [
        ("method", "POST"),
        ("route", "failures/{}/{}"),
        ("status", "200"),
    ];
    assert!(total(&bm, req, &reports) >= 1.0);
    assert_eq!(
        total(
            &bm,
            req,
            &[
                ("method", "POST"),
                ("route", "proxies/meta"),
                ("status", "200")
            ]
        ),
        3.0
    );
}
