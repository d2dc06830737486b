//! Failure detection (spec 5.3 loop 1): probe every registered, not-failed proxy (free ones
//! too); a proxy that gives no reply at all in [`TRIES`] fresh connections is reported to the
//! broker as failed by this coordinator's `reporter_id`.
//!
//! The probe is `UMCTL GETEPOCH`, which the proxy answers itself (and without the
//! `control_password`). why not PING: our proxy lets a backend answer PING (so clients see
//! `BUSY` while a script runs); a slow Redis behind a live proxy would then look like a dead
//! proxy and trigger a failover. The original answers both itself, so it probes the same.

use super::Ctx;
use crate::client::resp;
use std::collections::HashSet;

/// Attempts before a proxy counts as down. why: one lost packet or a full accept queue must
/// not trigger a failover; a killed process refuses all three at once, so this costs nothing
/// when it really is down.
pub const TRIES: usize = 3;

/// Any reply to the liveness probe on a fresh connection (an error reply counts: the process
/// is there).
pub fn answers(addr: &str, timeout: std::time::Duration) -> bool {
    resp::call_once(addr, &["UMCTL", "GETEPOCH"], timeout).is_ok()
}

/// One round.
pub fn round(ctx: &Ctx) {
    let (all, failed) = match (
        ctx.brokers.proxy_addresses(),
        ctx.brokers.failed_addresses(),
    ) {
        (Ok(a), Ok(f)) => (a, f.into_iter().collect::<HashSet<_>>()),
        (Err(e), _) | (_, Err(e)) => {
            super::stats::round_failed("detect");
            return log::warn!("detect: {e}");
        }
    };
    let targets: Vec<String> = all.into_iter().filter(|a| !failed.contains(a)).collect();
    let timeout = ctx.proxies.timeout;
    let results = ctx.workers.map(targets, move |addr| {
        let alive = (0..TRIES).any(|_| answers(&addr, timeout));
        (addr, alive)
    });
    for (addr, alive) in results {
        if alive {
            continue;
        }
        log::warn!("detect: proxy {addr} is not responding; reporting it");
        super::stats::proxy_down();
        ctx.proxies.forget(&addr);
        if let Err(e) = ctx.brokers.report_failure(&addr, &ctx.config.reporter_id) {
            log::warn!("detect: cannot report {addr}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::answers;
    use std::io::{BufReader, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    /// A proxy whose PING would hang (its backend is slow) but that answers GETEPOCH is alive.
    #[test]
    fn the_probe_is_answered_by_the_proxy_itself() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for s in l.incoming().take(1) {
                let mut s = s.unwrap();
                let req = crate::client::resp::read_value(&mut BufReader::new(&s)).unwrap();
                let getepoch = crate::client::resp::Value::Array(vec![
                    crate::client::resp::Value::Bulk(b"UMCTL".to_vec()),
                    crate::client::resp::Value::Bulk(b"GETEPOCH".to_vec()),
                ]);
                if req == getepoch {
                    s.write_all(b":7\r\n").unwrap();
                } else {
                    std::thread::sleep(Duration::from_secs(5));
                }
            }
        });
        assert!(answers(&addr, Duration::from_secs(1)));
        assert!(!answers("127.0.0.1:1", Duration::from_millis(200)));
    }
}
