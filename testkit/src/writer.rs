//! The acknowledged-writes writer and its checker, shared by the scaling and chaos tests: a
//! thread does `SET` + `INCR` on keys of its own through a [`ClusterClient`], remembering for
//! each key what every acknowledged write implies; afterwards [`check`] reads every key back
//! and counts the lost and stale ones. A command whose connection broke mid-way may or may
//! not have run; the writer remembers both possibilities for that key instead of guessing.

use crate::cluster::{ClusterClient, Outcome};
use control::client::resp::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the writer knows about one key pair (`<prefix>:s:<i>`, `<prefix>:c:<i>`).
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Round of the last acknowledged SET (0: none).
    pub set_acked: u64,
    /// Later SETs whose outcome is unknown: the key may hold any of these instead.
    pub set_maybe: Vec<u64>,
    /// Lowest counter value consistent with every acknowledged INCR.
    pub counter_min: i64,
    /// Highest (the minimum plus INCRs of unknown outcome).
    pub counter_max: i64,
}

/// What the writer did.
#[derive(Debug, Default)]
pub struct Report {
    /// Per key pair.
    pub keys: Vec<Expect>,
    /// Acknowledged SETs and INCRs.
    pub acked: u64,
    /// Redirects followed (MOVED, ASK, TRYAGAIN).
    pub redirects: u64,
    /// Commands whose outcome is unknown (connection lost mid-command).
    pub unknown: u64,
    /// Error replies other than redirects, and commands given up; text of each.
    pub errors: Vec<String>,
    /// INCR replies that did not follow the previous acknowledged value (a lost or stale
    /// write seen at once).
    pub incr_gaps: Vec<String>,
}

/// A running writer.
pub struct Writer {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Report>,
}

fn name(prefix: &str, kind: char, i: usize) -> String {
    format!("{prefix}:{kind}:{i}")
}

/// Starts a writer over `keys` key pairs named after `prefix`, pausing `pause` between rounds
/// of writes (zero: as fast as the cluster answers).
pub fn start(seeds: Vec<String>, prefix: &str, keys: usize, pause: Duration) -> Writer {
    let stop = Arc::new(AtomicBool::new(false));
    let (st, prefix) = (stop.clone(), prefix.to_string());
    let handle = std::thread::spawn(move || {
        let mut c = ClusterClient::new(seeds);
        let mut r = Report {
            keys: vec![Expect::default(); keys],
            ..Report::default()
        };
        let mut round: u64 = 0;
        while !st.load(Ordering::SeqCst) {
            round += 1;
            for i in 0..keys {
                write_pair(&mut c, &mut r, &prefix, i, round);
            }
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
        }
        r
    });
    Writer { stop, handle }
}

fn write_pair(c: &mut ClusterClient, r: &mut Report, prefix: &str, i: usize, round: u64) {
    let (sk, ck) = (name(prefix, 's', i), name(prefix, 'c', i));
    let v = round.to_string();
    let Some(e) = r.keys.get_mut(i) else { return };
    match c.run(&["SET", &sk, &v]) {
        Outcome::Reply(Value::Simple(_), n) => {
            e.set_acked = round;
            e.set_maybe.clear();
            r.acked += 1;
            r.redirects += u64::from(n);
        }
        Outcome::Reply(other, _) => r.errors.push(format!("SET {sk}: {other:?}")),
        Outcome::Unknown(_) => {
            e.set_maybe.push(round);
            r.unknown += 1;
        }
        Outcome::NotRun(why) => r.errors.push(format!("SET {sk}: gave up: {why}")),
    }
    match c.run(&["INCR", &ck]) {
        Outcome::Reply(Value::Int(n), red) => {
            r.acked += 1;
            r.redirects += u64::from(red);
            if n < e.counter_min + 1 || n > e.counter_max + 1 {
                r.incr_gaps.push(format!(
                    "INCR {ck} = {n}, expected {}..={}",
                    e.counter_min + 1,
                    e.counter_max + 1
                ));
            }
            e.counter_min = n;
            e.counter_max = n;
        }
        Outcome::Reply(other, _) => r.errors.push(format!("INCR {ck}: {other:?}")),
        Outcome::Unknown(_) => {
            e.counter_max += 1;
            r.unknown += 1;
        }
        Outcome::NotRun(why) => r.errors.push(format!("INCR {ck}: gave up: {why}")),
    }
}

impl Writer {
    /// Stops after the current round and returns what was written.
    pub fn finish(self) -> Report {
        self.stop.store(true, Ordering::SeqCst);
        match self.handle.join() {
            Ok(r) => r,
            Err(_) => Report {
                errors: vec!["writer thread panicked".into()],
                ..Report::default()
            },
        }
    }
}

/// What the checker found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Keys whose acknowledged write is missing (nil, or an older value).
    pub lost: Vec<String>,
    /// Keys holding a value newer than anything written, or otherwise inconsistent.
    pub stale: Vec<String>,
    /// Keys that could not be read.
    pub unreadable: Vec<String>,
}

/// Reads every key of `report` back through `c` and compares.
pub fn check(c: &mut ClusterClient, prefix: &str, report: &Report) -> Verdict {
    let mut v = Verdict::default();
    for (i, e) in report.keys.iter().enumerate() {
        let (sk, ck) = (name(prefix, 's', i), name(prefix, 'c', i));
        if e.set_acked > 0 || !e.set_maybe.is_empty() {
            let got = match c.run(&["GET", &sk]) {
                Outcome::Reply(Value::Bulk(b), _) => String::from_utf8_lossy(&b)
                    .parse::<u64>()
                    .unwrap_or(u64::MAX),
                Outcome::Reply(Value::Nil, _) => 0,
                other => {
                    v.unreadable.push(format!("{sk}: {other:?}"));
                    continue;
                }
            };
            if got != e.set_acked && !e.set_maybe.contains(&got) {
                let msg = format!("{sk}: {got}, acked {} maybe {:?}", e.set_acked, e.set_maybe);
                if got < e.set_acked {
                    v.lost.push(msg);
                } else {
                    v.stale.push(msg);
                }
            }
        }
        if e.counter_max > 0 {
            match c.run(&["GET", &ck]) {
                Outcome::Reply(Value::Bulk(b), _) => {
                    let got: i64 = String::from_utf8_lossy(&b).parse().unwrap_or(-1);
                    if got < e.counter_min {
                        v.lost.push(format!("{ck}: {got} < {}", e.counter_min));
                    } else if got > e.counter_max {
                        v.stale.push(format!("{ck}: {got} > {}", e.counter_max));
                    }
                }
                Outcome::Reply(Value::Nil, _) if e.counter_min == 0 => {}
                Outcome::Reply(Value::Nil, _) => v.lost.push(format!("{ck}: nil")),
                other => v.unreadable.push(format!("{ck}: {other:?}")),
            }
        }
    }
    v
}
