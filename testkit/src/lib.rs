//! # testkit: helpers the integration tests of every crate share
//!
//! Only `[dev-dependencies]` use it; no binary links it.
#![forbid(unsafe_code)]

pub mod chaos_check;
pub mod chaos_writer;
pub mod cluster;
mod http;
mod server;
pub mod writer;
pub use http::http_get;
pub use server::{start, start_on, Server};

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// First port [`free_port`] hands out.
const BASE: u32 = 20000;
/// How many ports it cycles through: 20000-31999.
const SPAN: u32 = 12000;

/// A 127.0.0.1 port that nothing listens on now, for a server a test is about to start.
///
/// why: the ports come from 20000-31999, below Linux's ephemeral range (32768-60999), so no
/// outgoing connection and no `bind(0)` elsewhere can take one between this probe and the
/// server's own bind (a proxy binds with SO_REUSEPORT, so a second proxy on the same port would
/// even share its connections). A per-process counter keeps the parallel tests of one binary
/// apart; the seed keeps test binaries running at the same time apart.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let seed = std::process::id().wrapping_mul(7919) ^ nanos;
    loop {
        let offset = nth_offset(seed, NEXT.fetch_add(1, Ordering::Relaxed));
        let Ok(port) = u16::try_from(u64::from(BASE) + offset) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The `n`th offset into the span for a process seeded with `seed`: distinct for SPAN steps.
///
/// why: the seed is reduced before the step is added; `seed + 7n` wrapping past u32::MAX shifted
/// the sequence (2^32 is not a multiple of SPAN) and once handed out a port twice in CI.
fn nth_offset(seed: u32, n: u32) -> u64 {
    let span = u64::from(SPAN);
    (u64::from(seed) % span + u64::from(n) * 7) % span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_do_not_repeat_even_for_a_seed_near_the_top_of_u32() {
        for seed in [0, 1, u32::MAX - 3, u32::MAX] {
            let mut seen: Vec<u64> = (0..SPAN).map(|n| nth_offset(seed, n)).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), SPAN as usize, "seed {seed}");
        }
    }

    #[test]
    fn ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ports.len());
        for p in ports {
            assert!((20000..32000).contains(&p));
            TcpListener::bind(("127.0.0.1", p)).unwrap();
        }
    }
}
