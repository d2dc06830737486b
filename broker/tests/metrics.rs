//! The broker's metrics endpoint against the real binary: every API answer is counted by
//! method, route template and status, and the metadata gauges follow the store.
// why: test code: a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod support;
use control::metrics::{parse, Sample};
use support::*;
use testkit::{free_port, http_get};

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels.len() == s.labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|s| s.value)
}

#[test]
fn requests_are_counted_by_route_and_status() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let b = BrokerProc::start(&[("metrics_address", &metrics)]);
    assert_eq!(add_proxy(&b, "v3", 6001, "h1").0, 200);
    assert_eq!(add_proxy(&b, "v2", 6002, "h2").0, 200);
    assert_err(add_proxy(&b, "v3", 6001, "h1"), 409, "ALREADY_EXISTED");
    let bad = b.call("POST", "/api/v3/clusters/meta/c1", Some("{not json"));
    assert_eq!(bad.0, 400);
    assert_eq!(b.get("/api/v3/clusters/meta/nosuch").0, 200);
    assert_eq!(b.get("/api/v3/no/such/route").0, 404);

    let (status, body) = http_get(&metrics, "/metrics").unwrap();
    assert_eq!(status, 200);
    let (samples, types) = parse(&body).unwrap();
    let req = "undermoon_broker_requests_total";
    assert_eq!(types.get(req).map(String::as_str), Some("counter"));
    let count = |m: &str, route: &str, st: &str| {
        value(
            &samples,
            req,
            &[("method", m), ("route", route), ("status", st)],
        )
    };
    // The harness asks for the version once at start.
    assert_eq!(count("GET", "version", "200"), Some(1.0), "{body}");
    assert_eq!(count("POST", "proxies/meta", "200"), Some(2.0), "{body}");
    assert_eq!(count("POST", "proxies/meta", "409"), Some(1.0), "{body}");
    assert_eq!(
        count("POST", "clusters/meta/{}", "400"),
        Some(1.0),
        "{body}"
    );
    assert_eq!(count("GET", "clusters/meta/{}", "200"), Some(1.0), "{body}");
    assert_eq!(count("GET", "unknown", "404"), Some(1.0), "{body}");
    // No label carries a cluster name or an address.
    assert!(
        !body.contains("nosuch") && !body.contains("127.0.0.1"),
        "{body}"
    );
    assert_eq!(value(&samples, "undermoon_broker_proxies", &[]), Some(2.0));
    assert_eq!(value(&samples, "undermoon_broker_clusters", &[]), Some(0.0));
    assert_eq!(
        value(&samples, "undermoon_broker_failed_proxies", &[]),
        Some(0.0)
    );
    assert!(value(&samples, "undermoon_broker_global_epoch", &[]).is_some());
}
