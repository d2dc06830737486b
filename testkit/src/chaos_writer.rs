//! The chaos test's writer: a thread doing `SET`, `INCR` and `RPUSH` (and now and then a `GET`)
//! on keys of its own through a [`ClusterClient`], stamping every acknowledgement with the
//! shared test clock, so the checker ([`crate::chaos_check`]) can tell a write lost to a
//! failover window from a write lost by a bug. Unlike [`crate::writer`] it also counts
//! client-visible errors by kind and follows a cluster whose proxies change ([`Seeds`]).
//!
//! Outcome rules: a reply is an acknowledgement; a broken connection or an error reply may or
//! may not have run the command (a proxy can answer an error after forwarding it), so both
//! possibilities stay allowed for that key.

use crate::chaos_check::{Anomaly, Kind};
use crate::cluster::{slot, ClusterClient, Outcome};
use control::client::resp::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The proxies currently serving a cluster, updated by the test as they change; writers reload
/// their slot map when the version moves.
#[derive(Clone, Default)]
pub struct Seeds(Arc<Mutex<(u64, Vec<String>)>>);

impl Seeds {
    /// Replaces the list (no-op when unchanged).
    pub fn set(&self, mut addrs: Vec<String>) {
        addrs.sort();
        let mut g = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if g.1 != addrs {
            g.0 += 1;
            g.1 = addrs;
        }
    }

    /// (version, list).
    pub fn get(&self) -> (u64, Vec<String>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What the writer knows about key triple `i` (`<prefix>:s:<i>`, `:c:`, `:l:`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyLog {
    /// Value of the last acknowledged SET (rounds count from 1; 0: none) and when.
    pub set_acked: u64,
    pub set_acked_at: u64,
    /// Later SETs of unknown outcome.
    pub set_maybe: Vec<u64>,
    /// Counter bounds implied by the INCRs so far, and when the last one was acknowledged.
    pub counter_min: i64,
    pub counter_max: i64,
    pub counter_acked_at: u64,
    /// Acknowledged list elements in push order, with their ack time.
    pub list_acked: Vec<(u64, u64)>,
    /// List elements of unknown outcome.
    pub list_maybe: Vec<u64>,
    /// List length bounds, as for the counter.
    pub len_min: i64,
    pub len_max: i64,
}

/// What a writer did and saw.
#[derive(Debug, Default)]
pub struct Report {
    pub prefix: String,
    pub keys: Vec<KeyLog>,
    pub acked: u64,
    /// Commands of unknown outcome (connection lost, or an error reply).
    pub unknown: u64,
    /// Client-visible errors by kind (first words of the error, or `io` / `gave-up`).
    pub errors: BTreeMap<String, u64>,
    /// The first full text seen of each kind.
    pub error_examples: BTreeMap<String, String>,
    /// Anomalies seen while running (counter or list going back or jumping, stale GETs).
    pub anomalies: Vec<Anomaly>,
}

/// A running writer.
pub struct Writer {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Report>,
}

/// Name of key `kind` (`s`, `c`, `l`) number `i`.
pub fn key(prefix: &str, kind: char, i: usize) -> String {
    format!("{prefix}:{kind}:{i}")
}

fn ms(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Error kind for the summary: `ERR` replies keep their next two words (the reason), other
/// replies their first word (`CLUSTERDOWN`, `MOVED` ...).
pub fn error_kind(e: &str) -> String {
    let words: Vec<&str> = e.split_whitespace().collect();
    // why: the proxy's backend errors keep the original's text, `Err cmd error <what>`.
    let keep = match words.first() {
        Some(&"ERR") => 3,
        Some(&"Err") => 4,
        _ => 1,
    };
    match words.first() {
        Some(_) if keep > 1 => words
            .iter()
            .take(keep)
            .copied()
            .collect::<Vec<_>>()
            .join("_"),
        Some(w) => (*w).to_string(),
        None => "empty".into(),
    }
}

/// Starts a writer over `keys` key triples named after `prefix`, pausing `pause` between
/// rounds; `t0` is the shared clock.
pub fn start(seeds: Seeds, prefix: &str, keys: usize, pause: Duration, t0: Instant) -> Writer {
    let stop = Arc::new(AtomicBool::new(false));
    let (st, prefix) = (stop.clone(), prefix.to_string());
    let handle = std::thread::spawn(move || {
        let (mut version, list) = seeds.get();
        let mut c = ClusterClient::new(list);
        let mut r = Report {
            prefix: prefix.clone(),
            keys: vec![KeyLog::default(); keys],
            ..Report::default()
        };
        let mut round: u64 = 0;
        while !st.load(Ordering::SeqCst) {
            let (v, list) = seeds.get();
            if v != version {
                version = v;
                c.set_seeds(list);
            }
            round += 1;
            for i in 0..keys {
                write_triple(&mut c, &mut r, i, round, t0);
                if st.load(Ordering::SeqCst) {
                    break;
                }
            }
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
        }
        r
    });
    Writer { stop, handle }
}

enum Got {
    Ack(Value),
    Maybe,
    NotRun,
}

fn run(c: &mut ClusterClient, r: &mut Report, args: &[&str]) -> Got {
    match c.run(args) {
        Outcome::Reply(Value::Error(e), _) => {
            let kind = error_kind(&e);
            *r.errors.entry(kind.clone()).or_default() += 1;
            r.error_examples.entry(kind).or_insert_with(|| {
                format!(
                    "{} {}: {e}",
                    args.first().unwrap_or(&""),
                    args.get(1).unwrap_or(&"")
                )
            });
            r.unknown += 1;
            // why: an error other than a redirect usually means a stale slot map (e.g. the
            // address now belongs to a proxy serving no cluster, or soon another one).
            c.refresh();
            // why: such an error lasts until a coordinator round fixes the proxy (≤ 1 s);
            // retrying at full speed only burns the shared cores.
            std::thread::sleep(Duration::from_millis(10));
            Got::Maybe
        }
        Outcome::Reply(v, _) => Got::Ack(v),
        Outcome::Unknown(_) => {
            *r.errors.entry("io".into()).or_default() += 1;
            r.unknown += 1;
            Got::Maybe
        }
        Outcome::NotRun(why) => {
            *r.errors
                .entry(format!("gave-up({})", error_kind(&why)))
                .or_default() += 1;
            Got::NotRun
        }
    }
}

fn write_triple(c: &mut ClusterClient, r: &mut Report, i: usize, round: u64, t0: Instant) {
    let prefix = r.prefix.clone();
    let (sk, ck, lk) = (
        key(&prefix, 's', i),
        key(&prefix, 'c', i),
        key(&prefix, 'l', i),
    );
    let v = round.to_string();

    // Every 4th round: read the SET key back first (read-your-writes).
    if round.is_multiple_of(4) {
        if let Got::Ack(got) = run(c, r, &["GET", &sk]) {
            if let Some(e) = r.keys.get(i) {
                if let Some(a) = stale_read(&sk, e, &got, round) {
                    r.anomalies.push(a);
                }
            }
        }
    }

    let got = run(c, r, &["SET", &sk, &v]);
    let now = ms(t0);
    let Some(e) = r.keys.get_mut(i) else { return };
    match got {
        Got::Ack(_) => {
            e.set_acked = round;
            e.set_acked_at = now;
            e.set_maybe.clear();
            r.acked += 1;
        }
        Got::Maybe => e.set_maybe.push(round),
        Got::NotRun => {}
    }

    let got = run(c, r, &["INCR", &ck]);
    let now = ms(t0);
    let Some(e) = r.keys.get_mut(i) else { return };
    match got {
        Got::Ack(Value::Int(n)) => {
            r.acked += 1;
            if let Some(a) = jump(&ck, n, e.counter_min, e.counter_max, e.counter_acked_at) {
                r.anomalies.push(a);
            }
            e.counter_min = n;
            e.counter_max = n;
            e.counter_acked_at = now;
        }
        Got::Ack(_) | Got::Maybe => e.counter_max += 1,
        Got::NotRun => {}
    }

    let got = run(c, r, &["RPUSH", &lk, &v]);
    let now = ms(t0);
    let Some(e) = r.keys.get_mut(i) else { return };
    match got {
        Got::Ack(Value::Int(n)) => {
            r.acked += 1;
            let last = e.list_acked.last().map_or(0, |x| x.1);
            if let Some(a) = jump(&lk, n, e.len_min, e.len_max, last) {
                // A shorter list is counted by the final check, element by element.
                if a.kind == Kind::Duplicated {
                    r.anomalies.push(a);
                }
            }
            e.len_min = n;
            e.len_max = n;
            e.list_acked.push((round, now));
        }
        Got::Ack(_) | Got::Maybe => {
            e.len_max += 1;
            e.list_maybe.push(round);
        }
        Got::NotRun => {}
    }
}

/// An INCR or RPUSH reply `n` against the bounds before it: below `min + 1` the key went back
/// (writes acknowledged up to `last_ack` lost), above `max + 1` a write ran twice.
pub fn jump(key: &str, n: i64, min: i64, max: i64, last_ack: u64) -> Option<Anomaly> {
    let (kind, acked_at) = if n < min + 1 {
        (Kind::Lost, Some(last_ack))
    } else if n > max + 1 {
        (Kind::Duplicated, None)
    } else {
        return None;
    };
    Some(Anomaly {
        kind,
        key: key.to_string(),
        slot: slot(key.as_bytes()),
        acked_at,
        detail: format!("reply {n}, expected {}..={}", min + 1, max + 1),
    })
}

/// A GET of the SET key during round `round` (before that round's SET).
fn stale_read(key: &str, e: &KeyLog, got: &Value, round: u64) -> Option<Anomaly> {
    let v = match got {
        Value::Nil => 0,
        Value::Bulk(b) => String::from_utf8_lossy(b)
            .parse::<u64>()
            .unwrap_or(u64::MAX),
        _ => u64::MAX,
    };
    if v == e.set_acked || e.set_maybe.contains(&v) {
        return None;
    }
    let never_written = v >= round;
    Some(Anomaly {
        kind: Kind::Stale,
        key: key.to_string(),
        slot: slot(key.as_bytes()),
        acked_at: (!never_written).then_some(e.set_acked_at),
        detail: format!("read {v}, acked {} maybe {:?}", e.set_acked, e.set_maybe),
    })
}

impl Writer {
    /// Stops after the current command and returns what was written.
    pub fn finish(self) -> Report {
        self.stop.store(true, Ordering::SeqCst);
        match self.handle.join() {
            Ok(r) => r,
            Err(_) => {
                let mut r = Report::default();
                r.errors.insert("writer-thread-panicked".into(), 1);
                r
            }
        }
    }
}

/// What the final read of one key triple returned: `None` for nil.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub set: Option<u64>,
    pub counter: Option<i64>,
    pub list: Vec<u64>,
}

/// Compares the final state of key triple `i` with what was acknowledged.
pub fn final_anomalies(prefix: &str, i: usize, e: &KeyLog, o: &Observed) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let mut push = |kind, k: &str, acked_at, detail: String| {
        out.push(Anomaly {
            kind,
            key: k.to_string(),
            slot: slot(k.as_bytes()),
            acked_at,
            detail,
        });
    };
    let sk = key(prefix, 's', i);
    let got = o.set.unwrap_or(0);
    if got != e.set_acked && !e.set_maybe.contains(&got) {
        let detail = format!("{got}, acked {} maybe {:?}", e.set_acked, e.set_maybe);
        if got < e.set_acked {
            push(Kind::Lost, &sk, Some(e.set_acked_at), detail);
        } else {
            push(Kind::Stale, &sk, None, detail);
        }
    }
    let ck = key(prefix, 'c', i);
    let got = o.counter.unwrap_or(0);
    if got < e.counter_min {
        let d = format!("{got} < {}", e.counter_min);
        push(Kind::Lost, &ck, Some(e.counter_acked_at), d);
    } else if got > e.counter_max {
        push(
            Kind::Duplicated,
            &ck,
            None,
            format!("{got} > {}", e.counter_max),
        );
    }
    let lk = key(prefix, 'l', i);
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    for v in &o.list {
        *seen.entry(*v).or_default() += 1;
    }
    for (v, at) in &e.list_acked {
        if !seen.contains_key(v) {
            push(Kind::Lost, &lk, Some(*at), format!("element {v} missing"));
        }
    }
    for (v, n) in &seen {
        if *n > 1 {
            push(
                Kind::Duplicated,
                &lk,
                None,
                format!("element {v} {n} times"),
            );
        } else if !e.list_acked.iter().any(|x| x.0 == *v) && !e.list_maybe.contains(v) {
            push(Kind::Stale, &lk, None, format!("element {v} never written"));
        }
    }
    out
}

fn read(c: &mut ClusterClient, args: &[&str]) -> Result<Value, String> {
    // why: the final read happens once the deployment has settled; a few retries cover a
    // proxy still picking up its last metadata.
    let mut last = String::new();
    for _ in 0..10 {
        match c.run(args) {
            Outcome::Reply(Value::Error(e), _) => last = e,
            Outcome::Reply(v, _) => return Ok(v),
            Outcome::Unknown(e) | Outcome::NotRun(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(last)
}

fn number<T: std::str::FromStr>(v: &Value) -> Option<T> {
    match v {
        Value::Bulk(b) => String::from_utf8_lossy(b).parse().ok(),
        _ => None,
    }
}

/// Reads every key of `r` back through `c`: the anomalies of the final state, and the keys
/// that could not be read at all.
pub fn check(c: &mut ClusterClient, r: &Report) -> (Vec<Anomaly>, Vec<String>) {
    let (mut anomalies, mut unreadable) = (Vec::new(), Vec::new());
    for (i, e) in r.keys.iter().enumerate() {
        let mut o = Observed::default();
        match read(c, &["GET", &key(&r.prefix, 's', i)]) {
            Ok(v) => {
                o.set = number(&v).or(if v == Value::Nil {
                    None
                } else {
                    Some(u64::MAX)
                })
            }
            Err(why) => {
                unreadable.push(format!("{}: {why}", key(&r.prefix, 's', i)));
                continue;
            }
        }
        match read(c, &["GET", &key(&r.prefix, 'c', i)]) {
            Ok(v) => o.counter = number(&v).or(if v == Value::Nil { None } else { Some(-1) }),
            Err(why) => {
                unreadable.push(format!("{}: {why}", key(&r.prefix, 'c', i)));
                continue;
            }
        }
        match read(c, &["LRANGE", &key(&r.prefix, 'l', i), "0", "-1"]) {
            Ok(Value::Array(items)) => {
                o.list = items
                    .iter()
                    .map(|x| number(x).unwrap_or(u64::MAX))
                    .collect();
            }
            Ok(other) => {
                unreadable.push(format!("{}: {other:?}", key(&r.prefix, 'l', i)));
                continue;
            }
            Err(why) => {
                unreadable.push(format!("{}: {why}", key(&r.prefix, 'l', i)));
                continue;
            }
        }
        anomalies.extend(final_anomalies(&r.prefix, i, e, &o));
    }
    (anomalies, unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos_check::{MasterLoss, Tally};

    fn log() -> KeyLog {
        KeyLog {
            set_acked: 7,
            set_acked_at: 7_000,
            set_maybe: vec![8],
            counter_min: 7,
            counter_max: 8,
            counter_acked_at: 7_000,
            list_acked: (1..=7).map(|r| (r, r * 1000)).collect(),
            list_maybe: vec![8],
            len_min: 7,
            len_max: 8,
        }
    }

    fn full() -> Observed {
        Observed {
            set: Some(7),
            counter: Some(7),
            list: (1..=7).collect(),
        }
    }

    #[test]
    fn every_acked_write_present_or_an_unknown_one_applied_is_clean() {
        assert!(final_anomalies("p", 0, &log(), &full()).is_empty());
        let o = Observed {
            set: Some(8),
            counter: Some(8),
            list: (1..=8).collect(),
        };
        assert!(final_anomalies("p", 0, &log(), &o).is_empty());
    }

    #[test]
    fn a_synthetic_lost_write_outside_any_failover_window_is_flagged_and_one_inside_is_excused() {
        // Element 3 (acked at 3 s) is missing from the list.
        let mut o = full();
        o.list.retain(|&v| v != 3);
        let a = final_anomalies("p", 0, &log(), &o);
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].kind, a[0].acked_at), (Kind::Lost, Some(3000)));
        let slot = a[0].slot;
        let kill = |at| MasterLoss {
            at,
            cluster: "c".into(),
            slots: vec![(slot, slot)],
        };
        // A kill of its master 20 s later does not explain it: a real bug.
        let mut t = Tally::default();
        t.add(&a, "c", &[kill(23_000)]);
        assert_eq!(t.get(Kind::Lost), (1, 0));
        // A kill 300 ms after its ack does.
        let mut t = Tally::default();
        t.add(&a, "c", &[kill(3_300)]);
        assert_eq!(t.get(Kind::Lost), (0, 1));
    }

    #[test]
    fn older_values_counters_going_back_and_duplicates_are_classified() {
        let o = Observed {
            set: Some(5),
            counter: Some(9),
            list: vec![1, 2, 2, 3, 4, 5, 6, 7, 42],
        };
        let kinds: Vec<(Kind, String)> = final_anomalies("p", 0, &log(), &o)
            .into_iter()
            .map(|a| (a.kind, a.key))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (Kind::Lost, "p:s:0".to_string()),
                (Kind::Duplicated, "p:c:0".to_string()),
                (Kind::Duplicated, "p:l:0".to_string()),
                (Kind::Stale, "p:l:0".to_string()),
            ]
        );
        let gone = Observed {
            set: None,
            counter: None,
            list: vec![],
        };
        let a = final_anomalies("p", 0, &log(), &gone);
        assert_eq!(a.len(), 2 + 7);
        assert!(a.iter().all(|a| a.kind == Kind::Lost));
    }

    #[test]
    fn replies_that_jump_are_lost_or_duplicated() {
        assert_eq!(jump("k", 8, 7, 8, 1), None);
        assert_eq!(jump("k", 9, 7, 8, 1), None);
        assert_eq!(jump("k", 3, 7, 8, 1).map(|a| a.kind), Some(Kind::Lost));
        assert_eq!(
            jump("k", 10, 7, 8, 1).map(|a| a.kind),
            Some(Kind::Duplicated)
        );
    }

    #[test]
    fn error_kinds_keep_the_reason() {
        assert_eq!(
            error_kind("ERR backend unavailable now"),
            "ERR_backend_unavailable"
        );
        assert_eq!(error_kind("CLUSTERDOWN no slots"), "CLUSTERDOWN");
        assert_eq!(
            error_kind("Err cmd error BackendError"),
            "Err_cmd_error_BackendError"
        );
    }
}
