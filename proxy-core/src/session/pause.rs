//! `CLIENT PAUSE` seen by the sessions: while a pause sent through this proxy holds the
//! backends, a paused command would sit on a shared backend connection and hold every other
//! client's commands behind it there until `backend_timeout` fails them all. So while it
//! lasts, each session sends its commands on a connection of its own
//! ([`super::owned`]): the paused client waits, as on Redis, and the others do not.
//!
//! The deadline is one atomic in `Control`, written by CLIENT PAUSE/UNPAUSE and read with
//! a relaxed load (no lock, no cross-core message). A pause sent to a backend directly, or
//! by another proxy, is not seen: its commands then wait on the shared connections.

use super::eq;
use crate::resp::request::Request;
use crate::shard::Control;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The deadline of `CLIENT PAUSE <timeout ms> [WRITE|ALL]` sent now, if well formed.
fn pause_deadline(req: &Request, now: u64) -> Option<u64> {
    let ms: u64 = std::str::from_utf8(req.arg(2)?).ok()?.parse().ok()?;
    Some(now.saturating_add(ms))
}

/// Whether `req` (a `CLIENT` command) is `CLIENT PAUSE` or `CLIENT UNPAUSE`.
pub(super) fn is_pause_cmd(req: &Request) -> bool {
    eq(req.arg(1), "pause") || eq(req.arg(1), "unpause")
}

/// Records a `CLIENT PAUSE` or `CLIENT UNPAUSE` the proxy forwards.
pub(super) fn note(ctl: &Control, req: &Request) {
    if eq(req.arg(1), "unpause") {
        ctl.pause_until_ms.store(0, Ordering::Relaxed);
    } else if let Some(until) = pause_deadline(req, now_ms()) {
        ctl.pause_until_ms.fetch_max(until, Ordering::Relaxed);
    }
}

/// Whether a pause sent through this proxy may still hold the backends.
pub(super) fn paused(ctl: &Control) -> bool {
    let until = ctl.pause_until_ms.load(Ordering::Relaxed);
    if until == 0 {
        return false;
    }
    if now_ms() < until {
        return true;
    }
    // why: an ended pause is cleared, so the request path goes back to one relaxed load
    // without reading the clock; a newer pause stored meanwhile stays.
    let _ = ctl
        .pause_until_ms
        .compare_exchange(until, 0, Ordering::Relaxed, Ordering::Relaxed);
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::request::parse;
    use crate::resp::Limits;
    use bytes::Bytes;

    fn req(args: &[&str]) -> Request {
        let mut b = Vec::new();
        crate::resp::compose::array_header(&mut b, args.len());
        for a in args {
            crate::resp::compose::bulk(&mut b, a.as_bytes());
        }
        let frame = Bytes::from(b);
        let Ok(Some(p)) = parse(&frame, &Limits::REQUEST) else {
            unreachable!("a well-formed request")
        };
        Request::new(frame, p)
    }

    #[test]
    fn deadline_from_timeout() {
        assert_eq!(
            pause_deadline(&req(&["CLIENT", "PAUSE", "500", "WRITE"]), 1000),
            Some(1500)
        );
        assert_eq!(pause_deadline(&req(&["CLIENT", "PAUSE", "x"]), 1000), None);
        assert_eq!(pause_deadline(&req(&["CLIENT", "PAUSE"]), 1000), None);
    }
}
