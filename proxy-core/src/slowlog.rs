//! The slow log (spec 2.14, and Redis' `SLOWLOG`): 1 in `slowlog_sample_rate` requests is
//! timed from parse to reply ready; one slower than `slowlog_log_slower_than` µs goes into a
//! process-wide ring of `slowlog_len` entries. Only logging takes the lock, and a command is
//! logged only when it was slow, so the request path stays lock-free.

use crate::resp::compose;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Arguments kept per entry. why: Redis keeps 32; enough to recognise a command.
const MAX_ARGS: usize = 32;
/// Bytes kept per argument. why: Redis' own cut-off (128), with a "... (n more bytes)" tail.
const MAX_ARG_LEN: usize = 128;

/// One logged command.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Increasing id.
    pub id: u64,
    /// Unix time (s) it started.
    pub started: u64,
    /// Duration in µs.
    pub micros: u64,
    /// Its arguments, cut as Redis cuts them.
    pub args: Vec<Vec<u8>>,
    /// Session id.
    pub session: u64,
    /// CLIENT SETNAME, if any.
    pub name: Vec<u8>,
}

#[derive(Debug, Default)]
struct Ring {
    next_id: u64,
    entries: VecDeque<Entry>,
}

/// The process-wide slow log.
#[derive(Debug, Default)]
pub struct SlowLog {
    ring: Mutex<Ring>,
}

/// The arguments of a command as an entry keeps them.
pub fn cut_args<'a>(args: impl Iterator<Item = &'a [u8]>, total: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for a in args.take(MAX_ARGS.min(total)) {
        if out.len() + 1 == MAX_ARGS && total > MAX_ARGS {
            out.push(format!("... ({} more arguments)", total - MAX_ARGS + 1).into_bytes());
            break;
        }
        if a.len() > MAX_ARG_LEN {
            let mut v = a.get(..MAX_ARG_LEN).unwrap_or(a).to_vec();
            v.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_ARG_LEN).as_bytes());
            out.push(v);
        } else {
            out.push(a.to_vec());
        }
    }
    out
}

impl SlowLog {
    /// Logs a command that took `took`, keeping at most `cap` entries.
    pub fn record(
        &self,
        took: Duration,
        args: Vec<Vec<u8>>,
        session: u64,
        name: Vec<u8>,
        cap: usize,
    ) {
        let started = SystemTime::now()
            .checked_sub(took)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let Ok(mut ring) = self.ring.lock() else {
            return;
        };
        let id = ring.next_id;
        ring.next_id += 1;
        ring.entries.push_front(Entry {
            id,
            started,
            micros: took.as_micros().min(u128::from(u64::MAX)) as u64,
            args,
            session,
            name,
        });
        ring.entries.truncate(cap.max(1));
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ring.lock().map_or(0, |r| r.entries.len())
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `UMCTL SLOWLOG GET [n]` in the original's shape (spec 2.14): ten bulk strings per
    /// entry. Stage points this proxy does not have as separate steps (migration backend,
    /// queue, connection pick-up) are `0`, the original's "not reached"; `wait_done` is the
    /// measured total.
    pub fn umctl_reply(&self, n: usize) -> Vec<u8> {
        let entries: Vec<Entry> = self
            .ring
            .lock()
            .map(|r| r.entries.iter().take(n).cloned().collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        compose::array_header(&mut out, entries.len());
        for e in entries {
            let ns = e.micros.saturating_mul(1000);
            let cmd: Vec<String> = e
                .args
                .iter()
                .take(5)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let fields = [
                format!("session_id: {}", e.session),
                format!("created: {}", rfc3339(e.started)),
                "sent_to_migration_backend: 0".to_string(),
                "sent_to_cluster: 0".to_string(),
                "sent_to_queue: 0".to_string(),
                "queue_received: 0".to_string(),
                "sent_to_backend: 0".to_string(),
                "received_from_backend: 0".to_string(),
                format!("wait_done: {ns}"),
                format!("command: {}", cmd.join(" ")),
            ];
            compose::array_header(&mut out, fields.len());
            for f in fields {
                compose::bulk(&mut out, f.as_bytes());
            }
        }
        out
    }

    /// Drops every entry.
    pub fn reset(&self) {
        if let Ok(mut r) = self.ring.lock() {
            r.entries.clear();
        }
    }

    /// `SLOWLOG GET [n]` in Redis' shape: newest first, each
    /// `[id, unix time, µs, [args...], client addr, client name]`.
    pub fn get_reply(&self, n: usize) -> Vec<u8> {
        let entries: Vec<Entry> = self
            .ring
            .lock()
            .map(|r| r.entries.iter().take(n).cloned().collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        compose::array_header(&mut out, entries.len());
        for e in entries {
            compose::array_header(&mut out, 6);
            compose::integer(&mut out, e.id as i64);
            compose::integer(&mut out, e.started as i64);
            compose::integer(&mut out, e.micros as i64);
            compose::array_header(&mut out, e.args.len());
            for a in &e.args {
                compose::bulk(&mut out, a);
            }
            compose::bulk(&mut out, format!("session:{}", e.session).as_bytes());
            compose::bulk(&mut out, &e.name);
        }
        out
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (civil-from-days, proleptic Gregorian).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_and_reply() {
        let log = SlowLog::default();
        for i in 0..5u64 {
            let args = cut_args([&b"GET"[..], format!("k{i}").as_bytes()].into_iter(), 2);
            log.record(Duration::from_millis(i), args, 7, b"app".to_vec(), 3);
        }
        assert_eq!(log.len(), 3);
        let r = log.get_reply(1);
        assert!(
            r.starts_with(b"*1\r\n*6\r\n:4\r\n:"),
            "{}",
            String::from_utf8_lossy(&r)
        );
        assert!(r.windows(2).any(|w| w == b"k4"));
        log.reset();
        assert!(log.is_empty());
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_454_553), "2026-11-23T17:22:33Z");
        let long = vec![b'x'; 300];
        let cut = cut_args([&long[..]].into_iter(), 1);
        assert!(cut[0].ends_with(b"... (172 more bytes)"));
        let many: Vec<&[u8]> = vec![b"a"; 40];
        let cut = cut_args(many.into_iter(), 40);
        assert_eq!(cut.len(), 32);
        assert_eq!(cut[31], b"... (9 more arguments)");
    }
}
