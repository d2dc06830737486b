//! The proxy's metrics endpoint against the real binary (two cores): commands per core,
//! errors by kind, the backend latency histogram and connections, scraped over HTTP and parsed;
//! `INFO` shows the same counters in its `# Proxy` section.
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
use testkit::http_get;

fn sum(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| label.is_none_or(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v)))
        .map(|s| s.value)
        .sum()
}

fn info_field(info: &str, name: &str) -> f64 {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO has no {name}: {info}"))
}

#[test]
fn proxy_metrics_count_commands_errors_latency_and_connections() {
    let redis = redis();
    let metrics = format!("127.0.0.1:{}", free_port());
    let proxy = proxy_with(&[("UNDERMOON_METRICS_ADDRESS", &metrics)]);
    let mut c = Client::connect(proxy.port);
    // Before any SETCLUSTER: a cluster error.
    assert!(
        matches!(c.cmd(&["GET", "a"]), Value::Error(e) if e.starts_with("ERR_CLUSTER_NOT_FOUND"))
    );
    setcluster(
        &proxy,
        &format!("v2 1 NOFLAG mydb {} 1 0-16383", redis.addr()),
    );
    for i in 0..200 {
        let k = format!("k{i}");
        assert_eq!(c.cmd(&["SET", &k, "v"]), Value::ok());
    }
    // A command error from Redis.
    c.cmd(&["LPUSH", "list", "x"]);
    assert!(matches!(c.cmd(&["GET", "list"]), Value::Error(e) if e.starts_with("WRONGTYPE")));
    // A protocol error closes that client.
    let mut bad = Client::connect(proxy.port);
    bad.send_raw(b"*1\r\n$x\r\n").unwrap();
    assert!(matches!(bad.read(), Ok(Value::Error(e)) if e.starts_with("ERR Protocol error")));

    let (status, body) = http_get(&metrics, "/metrics").unwrap();
    assert_eq!(status, 200);
    let (samples, types) = parse(&body).unwrap();
    for (name, kind) in [
        ("undermoon_proxy_commands_total", "counter"),
        ("undermoon_proxy_connections_total", "counter"),
        ("undermoon_proxy_connections_open", "gauge"),
        ("undermoon_proxy_errors_total", "counter"),
        ("undermoon_proxy_backend_latency_seconds", "histogram"),
        ("undermoon_proxy_client_pauses_total", "counter"),
        ("undermoon_proxy_query_buffer_closes_total", "counter"),
        ("undermoon_proxy_migration_keys_moved_total", "counter"),
        ("undermoon_proxy_migration_ranges_done_total", "counter"),
    ] {
        assert_eq!(
            types.get(name).map(String::as_str),
            Some(kind),
            "{name} in {body}"
        );
    }
    // One series per core.
    let cores = samples
        .iter()
        .filter(|s| s.name == "undermoon_proxy_commands_total")
        .count();
    assert_eq!(cores, 2, "{body}");
    let commands = sum(&samples, "undermoon_proxy_commands_total", None);
    assert!(commands >= 203.0, "commands {commands}");
    assert!(sum(&samples, "undermoon_proxy_connections_total", None) >= 3.0);
    assert!(sum(&samples, "undermoon_proxy_connections_open", None) >= 1.0);
    let errors = |kind| {
        sum(
            &samples,
            "undermoon_proxy_errors_total",
            Some(("kind", kind)),
        )
    };
    assert_eq!(errors("cluster"), 1.0, "{body}");
    assert_eq!(errors("command"), 1.0, "{body}");
    assert_eq!(errors("protocol"), 1.0, "{body}");
    assert_eq!(errors("backend"), 0.0, "{body}");
    // The histogram: 1 in 16 backend round trips is sampled; buckets are cumulative.
    let count = sum(
        &samples,
        "undermoon_proxy_backend_latency_seconds_count",
        None,
    );
    assert!(count >= 5.0, "latency samples {count} in {body}");
    for core in ["0", "1"] {
        let buckets: Vec<f64> = samples
            .iter()
            .filter(|s| s.name == "undermoon_proxy_backend_latency_seconds_bucket")
            .filter(|s| s.labels.iter().any(|(k, v)| k == "core" && v == core))
            .map(|s| s.value)
            .collect();
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
        let inf = buckets.last().copied().unwrap_or(-1.0);
        let core_count = sum(
            &samples,
            "undermoon_proxy_backend_latency_seconds_count",
            Some(("core", core)),
        );
        assert_eq!(inf, core_count, "core {core}");
    }
    assert!(
        sum(
            &samples,
            "undermoon_proxy_backend_latency_seconds_sum",
            None
        ) > 0.0
    );

    // INFO shows the same counters.
    let info = c.cmd(&["INFO"]).text();
    assert!(info.contains("# Proxy\r\n"), "{info}");
    assert_eq!(info_field(&info, "proxy_errors_cluster"), 1.0);
    assert_eq!(info_field(&info, "proxy_errors_command"), 1.0);
    assert_eq!(info_field(&info, "proxy_errors_protocol"), 1.0);
    assert!(info_field(&info, "proxy_total_commands_processed") >= commands);
    assert!(info_field(&info, "proxy_backend_latency_samples") >= count);
    assert_eq!(info_field(&info, "proxy_migration_keys_moved"), 0.0);
}
