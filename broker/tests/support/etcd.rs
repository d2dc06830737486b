//! Brokers on the real etcd of `etcd_server` (the part `e2e/tests` shares).

pub use super::etcd_server::EtcdProc;
use super::BrokerProc;
use std::time::{Duration, Instant};

impl EtcdProc {
    /// A broker on this etcd under `prefix`, with more `UNDERMOON_*` overrides.
    pub fn broker(&self, prefix: &str, env: &[(&str, &str)]) -> BrokerProc {
        let mut all = vec![
            ("storage_type", "etcd"),
            ("etcd_endpoints", self.addr.as_str()),
            ("etcd_prefix", prefix),
        ];
        all.extend_from_slice(env);
        BrokerProc::start(&all)
    }
}

/// Polls until `f` holds, failing the test after `timeout`.
pub fn eventually(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
