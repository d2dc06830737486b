//! The coordinator's metrics endpoint against the real binary: its broker is down, so every
//! round of every loop counts as run and as failed, and the page says so in Prometheus text.
// why: test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]
use control::metrics::{parse, Sample};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::{free_port, http_get};

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn value(samples: &[Sample], name: &str, label: (&str, &str)) -> f64 {
    samples
        .iter()
        .find(|s| s.name == name && s.labels.iter().any(|(k, v)| k == label.0 && v == label.1))
        .map(|s| s.value)
        .unwrap_or_else(|| panic!("no {name}{{{}={}}}", label.0, label.1))
}

#[test]
fn coordinator_counts_rounds_and_failed_rounds() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let broker_down = format!("127.0.0.1:{}", free_port());
    let _c = Kill(
        Command::new(env!("CARGO_BIN_EXE_coordinator"))
            .env("UNDERMOON_ADDRESS", format!("127.0.0.1:{}", free_port()))
            .env("UNDERMOON_BROKER_ADDRESS", &broker_down)
            .env("UNDERMOON_PROXY_TIMEOUT", "1")
            .env("UNDERMOON_METRICS_ADDRESS", &metrics)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    loop {
        let page = http_get(&metrics, "/metrics").map(|(_, body)| body);
        if let Ok(body) = &page {
            let (samples, types) = parse(body).unwrap();
            let failed = value(
                &samples,
                "undermoon_coordinator_round_failures_total",
                ("loop", "sync"),
            );
            if failed >= 2.0 {
                for l in ["detect", "sync", "migrate", "failover"] {
                    let rounds = value(&samples, "undermoon_coordinator_rounds_total", ("loop", l));
                    let fails = value(
                        &samples,
                        "undermoon_coordinator_round_failures_total",
                        ("loop", l),
                    );
                    assert!(rounds >= 1.0, "{l}: {rounds} rounds");
                    assert!(
                        fails >= 1.0 && fails <= rounds,
                        "{l}: {fails} of {rounds} failed"
                    );
                }
                for (name, kind) in [
                    ("undermoon_coordinator_rounds_total", "counter"),
                    ("undermoon_coordinator_proxy_failures_seen_total", "counter"),
                    ("undermoon_coordinator_failovers_total", "counter"),
                    ("undermoon_coordinator_pushes_total", "counter"),
                    (
                        "undermoon_coordinator_migrations_committed_total",
                        "counter",
                    ),
                ] {
                    assert_eq!(types.get(name).map(String::as_str), Some(kind), "{name}");
                }
                assert_eq!(http_get(&metrics, "/nothing").unwrap().0, 404);
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no failed sync rounds on {metrics}: {page:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
