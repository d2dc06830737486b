//! The chaos test's verdict logic, pure and unit-tested: which anomalies a writer saw, and
//! whether each one is explained by a master lost within the replication window after the
//! write's acknowledgement (acceptable with asynchronous replication) or is a real bug.
//!
//! Times are milliseconds since the test's start, from one `Instant`, so the writer threads
//! and the operation loop share a clock.

use std::collections::BTreeMap;

/// What went wrong with one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// An acknowledged write is missing (older value, nil, counter went back, list element
    /// gone).
    Lost,
    /// A read returned a value older than one already acknowledged, or one never written.
    Stale,
    /// A write took effect twice (counter or list longer than every write could make it, an
    /// element twice in a list).
    Duplicated,
}

/// One anomaly on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    pub kind: Kind,
    pub key: String,
    /// Hash slot of the key.
    pub slot: u16,
    /// When the write that is missing (or read back stale) was acknowledged; `None` when no
    /// single write is to blame (duplicates, values never written), which is never excused.
    pub acked_at: Option<u64>,
    /// What was seen, for the report.
    pub detail: String,
}

/// A master of `cluster` serving `slots` became unreachable at `at` (its proxy SIGKILLed):
/// writes it acknowledged shortly before may not have reached its replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterLoss {
    pub at: u64,
    pub cluster: String,
    /// Inclusive slot ranges the victim's masters held, migrating and importing included.
    pub slots: Vec<(u16, u16)>,
}

/// How long after its acknowledgement a write may still be unreplicated. why: on loopback a
/// replica trails its master by well under a millisecond; the killed proxy's Redis even keeps
/// streaming to the replica until the promotion. One second is generous; anything older that
/// is missing is a bug, not replication lag.
pub const REPLICATION_WINDOW_MS: u64 = 1000;
/// Clock slack: the writer stamps an ack after reading the reply and the loop stamps a kill
/// just before sending SIGKILL, so a write acked by the victim may carry a slightly later
/// stamp than the kill.
pub const SLACK_MS: u64 = 200;

/// True when `a` is explained by a master loss: same cluster, its slot was mastered by the
/// victim, and it was acknowledged within [`REPLICATION_WINDOW_MS`] before the kill.
pub fn excused(a: &Anomaly, cluster: &str, losses: &[MasterLoss]) -> bool {
    let Some(acked) = a.acked_at else {
        return false;
    };
    if a.kind == Kind::Duplicated {
        return false;
    }
    losses.iter().any(|l| {
        l.cluster == cluster
            && l.slots.iter().any(|&(lo, hi)| lo <= a.slot && a.slot <= hi)
            && l.at.saturating_sub(REPLICATION_WINDOW_MS) <= acked
            && acked <= l.at + SLACK_MS
    })
}

/// Counts for the summary line.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Per kind: (not excused, excused by a failover window).
    pub by_kind: BTreeMap<Kind, (u64, u64)>,
    /// The first few unexcused anomalies of each kind, for the failure message.
    pub examples: Vec<Anomaly>,
}

impl Tally {
    /// Classifies the anomalies of one cluster's writers.
    pub fn add(&mut self, anomalies: &[Anomaly], cluster: &str, losses: &[MasterLoss]) {
        for a in anomalies {
            let e = self.by_kind.entry(a.kind).or_default();
            if excused(a, cluster, losses) {
                e.1 += 1;
            } else {
                e.0 += 1;
                if self.examples.iter().filter(|x| x.kind == a.kind).count() < 5 {
                    self.examples.push(a.clone());
                }
            }
        }
    }

    /// (not excused, excused) for `kind`.
    pub fn get(&self, kind: Kind) -> (u64, u64) {
        self.by_kind.get(&kind).copied().unwrap_or_default()
    }

    /// Anomalies no failover window explains.
    pub fn unexcused(&self) -> u64 {
        self.by_kind.values().map(|v| v.0).sum()
    }

    /// `lost=A(+B in failover windows) stale=... duplicated=...`.
    pub fn line(&self) -> String {
        let f = |k| {
            let (bad, ok) = self.get(k);
            format!("{bad}(+{ok} in failover windows)")
        };
        format!(
            "lost={} stale={} duplicated={}",
            f(Kind::Lost),
            f(Kind::Stale),
            f(Kind::Duplicated)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost(slot: u16, acked_at: u64) -> Anomaly {
        Anomaly {
            kind: Kind::Lost,
            key: "k".into(),
            slot,
            acked_at: Some(acked_at),
            detail: String::new(),
        }
    }

    fn kill(at: u64) -> MasterLoss {
        MasterLoss {
            at,
            cluster: "c1".into(),
            slots: vec![(0, 4095), (8000, 8100)],
        }
    }

    #[test]
    fn a_write_acked_just_before_its_masters_proxy_died_is_excused() {
        let losses = [kill(50_000)];
        assert!(excused(&lost(100, 49_700), "c1", &losses));
        assert!(excused(&lost(8050, 49_000), "c1", &losses));
        // Stamped a little after the kill: the reply raced the SIGKILL.
        assert!(excused(&lost(100, 50_150), "c1", &losses));
    }

    #[test]
    fn a_lost_write_outside_every_failover_window_is_flagged() {
        let losses = [kill(50_000)];
        // Acked 10 s before the kill: long replicated, so missing is a bug.
        assert!(!excused(&lost(100, 40_000), "c1", &losses));
        // Acked after the kill (by the new master): nothing excuses it.
        assert!(!excused(&lost(100, 51_000), "c1", &losses));
        // Inside the window but on a slot the victim did not master.
        assert!(!excused(&lost(5000, 49_900), "c1", &losses));
        // Inside the window but another cluster.
        assert!(!excused(&lost(100, 49_900), "c2", &losses));
        // No kill at all.
        assert!(!excused(&lost(100, 49_900), "c1", &[]));
    }

    #[test]
    fn duplicates_and_anomalies_without_a_write_are_never_excused() {
        let losses = [kill(50_000)];
        let mut d = lost(100, 49_900);
        d.kind = Kind::Duplicated;
        assert!(!excused(&d, "c1", &losses));
        let mut s = lost(100, 0);
        s.kind = Kind::Stale;
        s.acked_at = None;
        assert!(!excused(&s, "c1", &losses));
    }

    #[test]
    fn the_tally_separates_excused_from_unexcused() {
        let losses = [kill(50_000)];
        let mut t = Tally::default();
        t.add(
            &[lost(100, 49_900), lost(100, 10_000), lost(9000, 49_900)],
            "c1",
            &losses,
        );
        assert_eq!(t.get(Kind::Lost), (2, 1));
        assert_eq!(t.unexcused(), 2);
        assert_eq!(t.examples.len(), 2);
        assert_eq!(
            t.line(),
            "lost=2(+1 in failover windows) stale=0(+0 in failover windows) \
             duplicated=0(+0 in failover windows)"
        );
    }
}
