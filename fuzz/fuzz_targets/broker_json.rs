//! Fuzz target: the broker's HTTP API handling (`broker::http::routes::dispatch`) on an
//! in-memory broker, fed sequences of requests with fuzzer-made JSON bodies and path
//! parameters.
//!
//! Input: requests separated by `0xFF`; in each, byte 0 picks the route, byte 1 and 2 pick the
//! path parameters, the rest is the body. Routes that call out to proxies (auto-scale, epoch
//! recovery) are left out: the fuzzer must not open connections. Checked: no panic, no 5xx,
//! and the metadata stays internally consistent after every request (`store::validate`).
#![no_main]

use broker::config::BrokerConfig;
use broker::http::routes::{dispatch, OFFLINE_ROUTES as ROUTES};
use broker::service::Broker;
use libfuzzer_sys::fuzz_target;

const PARAMS: [&str; 8] = [
    "c1",
    "c2",
    "127.0.0.1:6001",
    "127.0.0.1:6002",
    "1",
    "4",
    "",
    "no such/thing",
];

fuzz_target!(|data: &[u8]| {
    let Ok(broker) = Broker::new(BrokerConfig::default()) else {
        return;
    };
    for req in data.split(|&b| b == 0xFF).take(64) {
        let [r, p1, p2, body @ ..] = req else {
            continue;
        };
        let (method, template) = ROUTES[usize::from(*r) % ROUTES.len()];
        let path = template
            .replacen("{}", PARAMS[usize::from(*p1) % PARAMS.len()], 1)
            .replacen("{}", PARAMS[usize::from(*p2) % PARAMS.len()], 1);
        let segs: Vec<&str> = path.split('/').collect();
        if let Err(e) = dispatch(&broker, method, &segs, &[], body) {
            assert!(e.status() < 500, "{method:?} {path} -> {e:?}");
        }
        let meta = broker
            .snapshot()
            .unwrap_or_else(|e| panic!("snapshot: {e:?}"));
        if let Err(why) = broker::store::validate(&meta) {
            panic!("{method:?} {path} left inconsistent metadata: {why}");
        }
    }
});
