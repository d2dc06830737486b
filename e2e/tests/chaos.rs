//! The chaos test (issue #8, part 3): a broker persisting to its metadata file, 2
//! coordinators and 8 proxies on 4 fake hosts (2 Redis each), all on loopback, go through a
//! seeded random sequence of operations — create clusters (1500 keys preloaded, slow migration
//! pacing, so later operations land mid-migration) and delete them, add nodes and expand,
//! shrink, SIGKILL a proxy (failover, then restart and re-register it), SIGKILL and restart a
//! proxy at once, SIGKILL a replica Redis (restarted empty), restart the broker from its file,
//! restart a coordinator — while writers do SET/INCR/RPUSH through cluster clients. At the end
//! the checker reads every key back and prints one summary line; the test fails on any lost,
//! stale or duplicated write that no failover window explains (docs/chaos.md).
//!
//! `CHAOS_SECS` (default 60) bounds the operation loop; `CHAOS_SEED` replays a run's choices
//! (timing still varies). `scripts/chaos` runs it for 5 minutes.
// why: test harness: a failed unwrap or index is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod support;

use control::client::http;
use control::client::resp::{call_once, Value};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;
use testkit::chaos_check::{Anomaly, Kind, MasterLoss, Tally};
use testkit::chaos_writer::{self, Seeds, Writer};
use testkit::cluster::{ClusterClient, Outcome};

const HOSTS: usize = 4;
const PROXIES_PER_HOST: usize = 2;
/// Bound for the deployment to become healthy again after one operation (2 busy cores).
const SETTLE_LIMIT: Duration = Duration::from_secs(120);
/// Bound for the last migrations to finish at the end.
const FINAL_LIMIT: Duration = Duration::from_secs(240);
const CALL: Duration = Duration::from_secs(5);
/// Writers per cluster, key triples per writer, pause between a writer's rounds.
const WRITERS: usize = 2;
const KEYS: usize = 20;
const PAUSE: Duration = Duration::from_millis(20);
/// Keys preloaded into each new cluster (and checked at the end), so that with the slow
/// migration pacing set at creation a migration lasts seconds.
const FILL: usize = 1500;
/// Free proxies kept beyond what an allocation takes, so a failover finds a replacement.
const SPARE: usize = 2;

/// splitmix64: tiny, seedable, good enough to pick operations.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

struct ProxyBox {
    host: String,
    proc: Proc,
    redis: Vec<Proc>,
}

struct ClusterRun {
    seeds: Seeds,
    writers: Vec<Writer>,
    /// When its preloaded keys were all acknowledged.
    filled_at: u64,
}

#[derive(Default)]
struct Totals {
    tally: Tally,
    acked: u64,
    unknown: u64,
    errors: BTreeMap<String, u64>,
    error_examples: BTreeMap<String, String>,
    unreadable: Vec<String>,
}

struct World {
    t0: Instant,
    rng: Rng,
    meta_dir: tempfile::TempDir,
    broker: Proc,
    coords: Vec<(Proc, String)>,
    proxies: Vec<ProxyBox>,
    clusters: BTreeMap<String, ClusterRun>,
    next_cluster: u32,
    losses: Vec<MasterLoss>,
    totals: Totals,
    ops: BTreeMap<String, u32>,
    log: Vec<String>,
}

fn try_api(broker: &str, method: &str, path: &str, body: Option<&str>) -> Option<(u16, Json)> {
    let r = http::request(
        method,
        broker,
        &format!("/api/v3{path}"),
        &[("Content-Type", "application/json")],
        body.map(str::as_bytes),
        CALL,
    )
    .ok()?;
    Some((
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Json::Null),
    ))
}

fn broker_on(port: u16, meta: &Path) -> Proc {
    let meta = meta.to_path_buf();
    let mut cmd = move |port: u16, _: &Path| {
        let mut cmd = Command::new(bin("mem_broker"));
        cmd.env("UNDERMOON_ADDRESS", addr(port))
            .env("UNDERMOON_FAILURE_QUORUM", "1")
            .env("UNDERMOON_FAILURE_TTL", "60")
            .env("UNDERMOON_RECOVER_FROM_META_FILE", "true")
            .env("UNDERMOON_AUTO_UPDATE_META_FILE", "true")
            .env("UNDERMOON_META_FILENAME", &meta);
        cmd
    };
    let mut up = |port: u16| try_api(&addr(port), "GET", "/version", None).is_some();
    testkit::start_on("mem_broker", port, &mut cmd, &mut up, READY_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn strs(j: &Json, field: &str) -> Vec<String> {
    j[field]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn ranges(node: &Json) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    for s in node["slots"].as_array().into_iter().flatten() {
        for r in s["range_list"].as_array().into_iter().flatten() {
            if let (Some(lo), Some(hi)) = (r[0].as_u64(), r[1].as_u64()) {
                out.push((lo as u16, hi as u16));
            }
        }
    }
    out
}

fn nodes(cluster: &Json) -> Vec<Json> {
    cluster["nodes"].as_array().cloned().unwrap_or_default()
}

fn migrating(cluster: &Json) -> bool {
    nodes(cluster).iter().any(|n| {
        n["slots"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["tag"] != "None")
    })
}

fn cluster_proxies(cluster: &Json) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in nodes(cluster) {
        let p = n["proxy_address"].as_str().unwrap_or_default().to_string();
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn epoch_of(proxy: &str) -> Option<i64> {
    match call_once(proxy, &["UMCTL", "GETEPOCH"], CALL) {
        Ok(Value::Int(e)) => Some(e),
        _ => None,
    }
}

impl World {
    fn start(seed: u64) -> Self {
        let t0 = Instant::now();
        let meta_dir = tempfile::tempdir().unwrap();
        let broker = broker_on(free_port(), &meta_dir.path().join("metadata"));
        let mut proxies = Vec::new();
        for h in 1..=HOSTS {
            for _ in 0..PROXIES_PER_HOST {
                let p = proxy();
                let redis = vec![redis(), redis()];
                proxies.push(ProxyBox {
                    host: format!("host{h}"),
                    proc: p,
                    redis,
                });
            }
        }
        let mut w = World {
            t0,
            rng: Rng(seed),
            meta_dir,
            broker,
            coords: Vec::new(),
            proxies,
            clusters: BTreeMap::new(),
            next_cluster: 1,
            losses: Vec::new(),
            totals: Totals::default(),
            ops: BTreeMap::new(),
            log: Vec::new(),
        };
        for i in 0..w.proxies.len() {
            let (s, body) = w.register(i).expect("broker up");
            assert_eq!(s, 200, "register proxy: {body}");
        }
        for id in ["coord-1", "coord-2"] {
            let c = coordinator(&w.b(), id, free_port());
            w.coords.push((c, id.to_string()));
        }
        w
    }

    fn b(&self) -> String {
        self.broker.addr()
    }

    fn now(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn note(&mut self, what: String) {
        let line = format!("[{:7.1}s] {what}", self.t0.elapsed().as_secs_f64());
        println!("{line}");
        self.log.push(line);
    }

    fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Json) {
        // why: the broker may be restarting or slow on a loaded machine; retry briefly.
        for _ in 0..20 {
            if let Some(r) = try_api(&self.b(), method, path, body) {
                return r;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("broker {} does not answer {method} {path}", self.b());
    }

    fn register(&self, i: usize) -> Option<(u16, Json)> {
        let p = &self.proxies[i];
        let body = format!(
            r#"{{"proxy_address":"{}","nodes":["{}","{}"],"host":"{}"}}"#,
            p.proc.addr(),
            p.redis[0].addr(),
            p.redis[1].addr(),
            p.host
        );
        try_api(&self.b(), "POST", "/proxies/meta", Some(&body))
    }

    fn cluster_names(&self) -> Vec<String> {
        strs(&self.api("GET", "/clusters/names", None).1, "names")
    }

    fn cluster(&self, name: &str) -> Json {
        self.api("GET", &format!("/clusters/meta/{name}"), None).1["cluster"].clone()
    }

    fn failed(&self) -> Vec<String> {
        strs(
            &self.api("GET", "/proxies/failed/addresses", None).1,
            "addresses",
        )
    }

    fn idx(&self, proxy: &str) -> usize {
        self.proxies
            .iter()
            .position(|p| p.proc.addr() == proxy)
            .unwrap()
    }

    /// Proxies registered, alive, not failed and in no cluster.
    fn free(&self) -> Vec<usize> {
        let failed = self.failed();
        let mut used = Vec::new();
        for name in self.cluster_names() {
            used.extend(cluster_proxies(&self.cluster(&name)));
        }
        (0..self.proxies.len())
            .filter(|&i| {
                let a = self.proxies[i].proc.addr();
                self.proxies[i].proc.child.is_some() && !failed.contains(&a) && !used.contains(&a)
            })
            .collect()
    }

    /// Why the deployment is not healthy yet, or `Ok`: no pending or unhandled failure, every
    /// proxy of every cluster at the cluster's epoch, every slot served, every master with an
    /// online replica.
    fn health(&self) -> Result<(), String> {
        if !self.failed().is_empty() {
            return Err(format!("failed proxies {:?}", self.failed()));
        }
        let pending = strs(&self.api("GET", "/failures", None).1, "addresses");
        if !pending.is_empty() {
            return Err(format!("failure reports {pending:?}"));
        }
        for name in self.cluster_names() {
            let c = self.cluster(&name);
            let epoch = c["epoch"].as_i64().unwrap_or(-1);
            let proxies = cluster_proxies(&c);
            for p in &proxies {
                if epoch_of(p) != Some(epoch) {
                    return Err(format!("{name}: {p} not at epoch {epoch}"));
                }
            }
            let Some(first) = proxies.first() else {
                return Err(format!("{name}: no proxy"));
            };
            let served = slots_served(port_of(first), &[]);
            if served != 16384 {
                return Err(format!("{name}: {first} serves {served} slots"));
            }
            for n in nodes(&c) {
                if n["repl"]["role"] != "master" {
                    continue;
                }
                let m = n["address"].as_str().unwrap_or_default();
                let Some(r) = n["repl"]["peers"][0]["node_address"].as_str() else {
                    return Err(format!("{name}: master {m} has no replica"));
                };
                let rport = format!("port={},", port_of(r));
                let info = info_replication(m);
                if !info
                    .lines()
                    .any(|l| l.starts_with("slave") && l.contains(&rport) && l.contains("online"))
                {
                    return Err(format!("{name}: replica {r} of {m} not online"));
                }
            }
        }
        Ok(())
    }

    fn update_seeds(&self) {
        for (name, run) in &self.clusters {
            let c = self.cluster(name);
            if !c.is_null() {
                run.seeds.set(cluster_proxies(&c));
            }
        }
    }

    /// Waits until healthy (and, with `quiet`, no migration left); fails the test with the
    /// reason and the operation log otherwise.
    fn settle(&mut self, quiet: bool, limit: Duration) {
        let start = Instant::now();
        let mut why = String::new();
        while start.elapsed() < limit {
            self.update_seeds();
            self.reregister_failed();
            match self.health() {
                Ok(()) if !quiet => return,
                Ok(()) => {
                    let busy: Vec<String> = self
                        .cluster_names()
                        .into_iter()
                        .filter(|n| migrating(&self.cluster(n)))
                        .collect();
                    if busy.is_empty() {
                        return;
                    }
                    why = format!("migrations running in {busy:?}");
                }
                Err(e) => why = e,
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "not settled after {limit:?}: {why}\nseed and operations:\n{}",
            self.log.join("\n")
        );
    }

    /// A proxy the broker failed over (killed, or restarted before the coordinator noticed):
    /// once no Redis replicates from its nodes any more, restart it if dead, empty its Redis
    /// nodes and register it again, which makes it free.
    /// why empty: its nodes still hold the cluster's keys from before the failover; a later
    /// migration onto them would keep those (RESTORE without REPLACE keeps a destination's
    /// key), so an operator re-provisions them, as we do here.
    /// why wait: the failover answers before the survivor has promoted its replica (the
    /// coordinator pushes SETREPL next); a FLUSHALL on the old master before that replicates
    /// to the replica about to be promoted and empties it (our first runs did exactly that).
    fn reregister_failed(&mut self) {
        for a in self.failed() {
            let i = self.idx(&a);
            let ports: Vec<u16> = self.proxies[i].redis.iter().map(|r| r.port).collect();
            if self.replicating_from(&ports) {
                continue;
            }
            if self.proxies[i].proc.child.is_none() {
                self.proxies[i].proc = proxy_on(port_of(&a));
            }
            for r in &self.proxies[i].redis {
                let _ = call_once(&r.addr(), &["FLUSHALL"], CALL);
            }
            let r = self.register(i);
            self.note(format!(
                "re-registered {a} ({})",
                r.map(|(s, _)| s.to_string()).unwrap_or("no answer".into())
            ));
        }
    }

    /// True while any Redis of the deployment is a replica of one of `ports` (or cannot tell).
    fn replicating_from(&self, ports: &[u16]) -> bool {
        self.proxies.iter().flat_map(|p| &p.redis).any(|r| {
            let info = info_replication(&r.addr());
            if info.is_empty() {
                return r.child.is_some();
            }
            field(&info, "role") == "slave"
                && field(&info, "master_port")
                    .parse::<u16>()
                    .is_ok_and(|p| ports.contains(&p))
        })
    }

    fn start_writers(&mut self, name: &str) {
        let seeds = Seeds::default();
        seeds.set(cluster_proxies(&self.cluster(name)));
        let writers = (0..WRITERS)
            .map(|w| {
                chaos_writer::start(seeds.clone(), &format!("{name}w{w}"), KEYS, PAUSE, self.t0)
            })
            .collect();
        self.clusters.insert(
            name.to_string(),
            ClusterRun {
                seeds,
                writers,
                filled_at: 0,
            },
        );
    }

    /// Stops the writers of `name` and checks their keys against the cluster.
    fn check_cluster(&mut self, name: &str) {
        let Some(run) = self.clusters.remove(name) else {
            return;
        };
        let reports: Vec<_> = run.writers.into_iter().map(Writer::finish).collect();
        let mut c = ClusterClient::new(cluster_proxies(&self.cluster(name)));
        self.check_fill(name, &mut c, run.filled_at);
        for r in reports {
            let (final_anomalies, unreadable) = chaos_writer::check(&mut c, &r);
            let t = &mut self.totals;
            t.tally.add(&r.anomalies, name, &self.losses);
            t.tally.add(&final_anomalies, name, &self.losses);
            t.acked += r.acked;
            t.unknown += r.unknown;
            for (k, n) in r.errors {
                *t.errors.entry(k).or_default() += n;
            }
            for (k, e) in r.error_examples {
                t.error_examples.entry(k).or_insert(e);
            }
            t.unreadable.extend(unreadable);
        }
    }

    /// Records which slots the masters behind `victim` held, per cluster, at `at`.
    fn record_master_loss(&mut self, victim: &str, at: u64) {
        for name in self.cluster_names() {
            let c = self.cluster(&name);
            let slots: Vec<(u16, u16)> = nodes(&c)
                .iter()
                .filter(|n| n["proxy_address"] == victim && n["repl"]["role"] == "master")
                .flat_map(ranges)
                .collect();
            if !slots.is_empty() {
                self.losses.push(MasterLoss {
                    at,
                    cluster: name,
                    slots,
                });
            }
        }
    }

    // ---- operations; each returns what it did, or why it was skipped ----

    fn op_create(&mut self) -> Result<String, String> {
        if self.cluster_names().len() >= 2 || self.free().len() < 2 + SPARE {
            return Err("no room".into());
        }
        let name = format!("c{}", self.next_cluster);
        self.next_cluster += 1;
        let (s, body) = self.api(
            "POST",
            &format!("/clusters/meta/{name}"),
            Some(r#"{"node_number":4}"#),
        );
        if s != 200 {
            return Err(format!("create {name}: {s} {body}"));
        }
        // Slow migrations over a preloaded keyspace, so kills and restarts land mid-migration.
        let (s, body) = self.api(
            "PATCH",
            &format!("/clusters/config/{name}"),
            Some(r#"{"migration_scan_count":"8","migration_scan_interval":"20000"}"#),
        );
        assert_eq!(s, 200, "config {name}: {body}");
        self.settle(false, SETTLE_LIMIT);
        let mut c = ClusterClient::new(cluster_proxies(&self.cluster(&name)));
        for i in 0..FILL {
            let k = format!("{name}:fill:{i}");
            let r = c.run(&["SET", &k, &k]);
            assert!(
                matches!(r, Outcome::Reply(Value::Simple(_), _)),
                "preload {k}: {r:?}"
            );
        }
        let filled_at = self.now();
        self.start_writers(&name);
        if let Some(run) = self.clusters.get_mut(&name) {
            run.filled_at = filled_at;
        }
        Ok(format!("created {name}, {FILL} keys preloaded"))
    }

    /// The preloaded keys of `name` that do not read back, as lost writes acknowledged at
    /// `filled_at`.
    fn check_fill(&mut self, name: &str, c: &mut ClusterClient, filled_at: u64) {
        let mut lost = Vec::new();
        for i in 0..FILL {
            let k = format!("{name}:fill:{i}");
            let mut got = c.run(&["GET", &k]);
            for _ in 0..10 {
                if matches!(got, Outcome::Reply(Value::Bulk(_) | Value::Nil, _)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
                got = c.run(&["GET", &k]);
            }
            match got {
                Outcome::Reply(Value::Bulk(b), _) if b == k.as_bytes() => {}
                Outcome::Reply(Value::Bulk(_) | Value::Nil, _) => lost.push(Anomaly {
                    kind: Kind::Lost,
                    slot: testkit::cluster::slot(k.as_bytes()),
                    key: k,
                    acked_at: Some(filled_at),
                    detail: format!("preloaded key: {got:?}"),
                }),
                other => self.totals.unreadable.push(format!("{k}: {other:?}")),
            }
        }
        self.totals.tally.add(&lost, name, &self.losses);
    }

    fn op_delete(&mut self) -> Result<String, String> {
        let names = self.cluster_names();
        if names.len() < 2 {
            return Err("keep one cluster".into());
        }
        let name = names[self.rng.below(names.len())].clone();
        if migrating(&self.cluster(&name)) {
            return Err(format!("{name} migrating"));
        }
        self.check_cluster(&name);
        let (s, body) = self.api("DELETE", &format!("/clusters/meta/{name}"), None);
        assert_eq!(s, 200, "delete {name}: {body}");
        Ok(format!("checked and deleted {name}"))
    }

    fn pick_cluster(&mut self) -> Option<(String, Json)> {
        let names = self.cluster_names();
        if names.is_empty() {
            return None;
        }
        let name = names[self.rng.below(names.len())].clone();
        let c = self.cluster(&name);
        Some((name, c))
    }

    fn op_expand(&mut self) -> Result<String, String> {
        let (name, c) = self.pick_cluster().ok_or("no cluster")?;
        if nodes(&c).len() != 4 || migrating(&c) || self.free().len() < 2 + SPARE {
            return Err(format!("{name}: not a quiet 4-node cluster, or no room"));
        }
        let (s, body) = self.api(
            "PATCH",
            &format!("/clusters/nodes/{name}"),
            Some(r#"{"node_number":4}"#),
        );
        if s != 200 {
            return Err(format!("add nodes {name}: {s} {body}"));
        }
        // Every proxy of the cluster learns its new nodes before slots move to them.
        self.settle(false, SETTLE_LIMIT);
        let (s, body) = self.api("POST", &format!("/clusters/migrations/expand/{name}"), None);
        Ok(format!("added 4 nodes to {name}, expand: {s} {body}"))
    }

    fn op_shrink(&mut self) -> Result<String, String> {
        let (name, c) = self.pick_cluster().ok_or("no cluster")?;
        let owners = nodes(&c)
            .iter()
            .filter(|n| !n["slots"].as_array().unwrap().is_empty())
            .count();
        if owners != 4 || migrating(&c) {
            return Err(format!("{name}: not a quiet cluster of 4 masters"));
        }
        let (s, body) = self.api(
            "POST",
            &format!("/clusters/migrations/shrink/{name}/4"),
            None,
        );
        Ok(format!("shrink {name} 8 -> 4: {s} {body}"))
    }

    fn op_drop_free_nodes(&mut self) -> Result<String, String> {
        let (name, c) = self.pick_cluster().ok_or("no cluster")?;
        let slotless = nodes(&c)
            .iter()
            .any(|n| n["repl"]["role"] == "master" && n["slots"].as_array().unwrap().is_empty());
        if !slotless || migrating(&c) {
            return Err(format!("{name}: no slotless chunk, or migrating"));
        }
        let (s, body) = self.api("DELETE", &format!("/clusters/free_nodes/{name}"), None);
        Ok(format!("dropped free nodes of {name}: {s} {body}"))
    }

    /// A victim whose failover finds a replacement: a free proxy on neither its host nor its
    /// chunk peer's host.
    fn pick_victim(&mut self) -> Option<usize> {
        let free = self.free();
        let mut peers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for name in self.cluster_names() {
            for n in nodes(&self.cluster(&name)) {
                let p = n["proxy_address"].as_str().unwrap_or_default().to_string();
                for peer in n["repl"]["peers"].as_array().into_iter().flatten() {
                    if let Some(pp) = peer["proxy_address"].as_str() {
                        peers.entry(p.clone()).or_default().push(pp.to_string());
                    }
                }
            }
        }
        let ok: Vec<usize> = (0..self.proxies.len())
            .filter(|&i| {
                let a = self.proxies[i].proc.addr();
                let Some(ps) = peers.get(&a) else {
                    return true; // free: nothing to replace
                };
                let mut hosts = vec![self.proxies[i].host.clone()];
                hosts.extend(ps.iter().map(|p| self.proxies[self.idx(p)].host.clone()));
                free.iter()
                    .any(|&f| f != i && !hosts.contains(&self.proxies[f].host))
            })
            .collect();
        // Mostly a proxy with a master behind it: those kills are the ones that fail over.
        let masters: Vec<usize> = ok
            .iter()
            .copied()
            .filter(|&i| self.masters_behind(&self.proxies[i].proc.addr()))
            .collect();
        let pool = if !masters.is_empty() && self.rng.below(4) != 0 {
            masters
        } else {
            ok
        };
        (!pool.is_empty()).then(|| pool[self.rng.below(pool.len())])
    }

    fn masters_behind(&self, proxy: &str) -> bool {
        self.cluster_names().iter().any(|name| {
            nodes(&self.cluster(name))
                .iter()
                .any(|n| n["proxy_address"] == proxy && n["repl"]["role"] == "master")
        })
    }

    fn op_balance(&mut self) -> Result<String, String> {
        let (name, _) = self.pick_cluster().ok_or("no cluster")?;
        let (s, body) = self.api("PUT", &format!("/clusters/balance/{name}"), None);
        Ok(format!("balance {name}: {s} {body}"))
    }

    /// " (mid-migration)" when a migration runs in some cluster now.
    fn mid_migration(&self) -> &'static str {
        if self
            .cluster_names()
            .iter()
            .any(|n| migrating(&self.cluster(n)))
        {
            " (mid-migration)"
        } else {
            ""
        }
    }

    fn op_kill_proxy(&mut self) -> Result<String, String> {
        let i = self.pick_victim().ok_or("no victim with a replacement")?;
        let a = self.proxies[i].proc.addr();
        let mid = self.mid_migration();
        let at = self.now();
        self.record_master_loss(&a, at);
        self.proxies[i].proc.kill();
        let t = Instant::now();
        wait_until(&format!("{a} failed over"), SETTLE_LIMIT, || {
            self.failed().contains(&a)
        });
        let failed_over = t.elapsed();
        Ok(format!(
            "SIGKILL proxy {a}{mid}: failed over in {failed_over:.1?}"
        ))
    }

    fn op_bounce_proxy(&mut self) -> Result<String, String> {
        let i = self.pick_victim().ok_or("no victim with a replacement")?;
        let a = self.proxies[i].proc.addr();
        let mid = self.mid_migration();
        let at = self.now();
        self.record_master_loss(&a, at);
        self.proxies[i].proc.kill();
        std::thread::sleep(Duration::from_millis(self.rng.below(500) as u64));
        self.proxies[i].proc = proxy_on(port_of(&a));
        Ok(format!("SIGKILL + restart proxy {a}{mid}"))
    }

    fn op_kill_replica(&mut self) -> Result<String, String> {
        let mut replicas = Vec::new();
        for name in self.cluster_names() {
            for n in nodes(&self.cluster(&name)) {
                if n["repl"]["role"] == "replica" {
                    replicas.push(n["address"].as_str().unwrap_or_default().to_string());
                }
            }
        }
        if replicas.is_empty() {
            return Err("no replica".into());
        }
        let r = replicas[self.rng.below(replicas.len())].clone();
        let (i, j) = self
            .proxies
            .iter()
            .enumerate()
            .find_map(|(i, p)| p.redis.iter().position(|x| x.addr() == r).map(|j| (i, j)))
            .unwrap();
        self.proxies[i].redis[j].kill();
        std::thread::sleep(Duration::from_millis(self.rng.below(1000) as u64));
        self.proxies[i].redis[j] = redis_on(port_of(&r));
        Ok(format!("SIGKILL + restart empty replica redis {r}"))
    }

    fn op_restart_broker(&mut self) -> Result<String, String> {
        let port = self.broker.port;
        self.broker.kill();
        std::thread::sleep(Duration::from_millis(self.rng.below(2000) as u64));
        let meta = self.meta_dir.path().join("metadata");
        self.broker = broker_on(port, &meta);
        Ok(format!("restarted broker from {}", meta.display()))
    }

    fn op_restart_coordinator(&mut self) -> Result<String, String> {
        let k = self.rng.below(self.coords.len());
        let port = self.coords[k].0.port;
        let id = self.coords[k].1.clone();
        self.coords[k].0.kill();
        std::thread::sleep(Duration::from_millis(self.rng.below(3000) as u64));
        self.coords[k].0 = coordinator(&self.b(), &id, port);
        Ok(format!("restarted coordinator {id}"))
    }

    fn step(&mut self) {
        type Op = fn(&mut World) -> Result<String, String>;
        const OPS: [(&str, u64, Op); 11] = [
            ("balance", 1, World::op_balance),
            ("create", 2, World::op_create),
            ("delete", 1, World::op_delete),
            ("expand", 3, World::op_expand),
            ("shrink", 3, World::op_shrink),
            ("drop_free_nodes", 2, World::op_drop_free_nodes),
            ("kill_proxy", 3, World::op_kill_proxy),
            ("bounce_proxy", 2, World::op_bounce_proxy),
            ("kill_replica", 3, World::op_kill_replica),
            ("restart_broker", 2, World::op_restart_broker),
            ("restart_coordinator", 2, World::op_restart_coordinator),
        ];
        let total: u64 = OPS.iter().map(|o| o.1).sum();
        let mut pick = self.rng.next() % total;
        let (name, _, op) = *OPS
            .iter()
            .find(|o| {
                if pick < o.1 {
                    true
                } else {
                    pick -= o.1;
                    false
                }
            })
            .unwrap();
        match op(self) {
            Ok(what) => {
                *self.ops.entry(name.to_string()).or_default() += 1;
                self.note(what);
            }
            Err(why) => self.note(format!("skip {name}: {why}")),
        }
        self.settle(false, SETTLE_LIMIT);
        std::thread::sleep(Duration::from_millis(200 + self.rng.below(1500) as u64));
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

#[test]
fn chaos_loses_no_acknowledged_write_outside_failover_windows() {
    let secs = env_u64("CHAOS_SECS").unwrap_or(60);
    let seed = env_u64("CHAOS_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    println!("chaos: seed=0x{seed:x} duration={secs}s (replay: CHAOS_SEED=0x{seed:x})");
    let mut w = World::start(seed);
    w.note(format!("seed 0x{seed:x}, {secs} s"));
    let _ = w.op_create();
    assert!(!w.clusters.is_empty(), "first cluster created");
    let loop_start = Instant::now();
    while loop_start.elapsed() < Duration::from_secs(secs) {
        w.step();
    }
    w.note("loop over; waiting for the last migrations".into());
    w.settle(true, FINAL_LIMIT);
    std::thread::sleep(Duration::from_secs(1));
    for name in w.clusters.keys().cloned().collect::<Vec<_>>() {
        w.check_cluster(&name);
    }
    let t = &w.totals;
    let errors: Vec<String> = t.errors.iter().map(|(k, n)| format!("{k}:{n}")).collect();
    let ops: Vec<String> = w.ops.iter().map(|(k, n)| format!("{k}:{n}")).collect();
    let summary = format!(
        "chaos summary: seed=0x{seed:x} secs={secs} ops[{}] acked={} unknown={} {} \
         unreadable={} master_losses={} errors[{}]",
        ops.join(" "),
        t.acked,
        t.unknown,
        t.tally.line(),
        t.unreadable.len(),
        w.losses.len(),
        errors.join(" ")
    );
    println!("{}", w.log.join("\n"));
    for (k, e) in &t.error_examples {
        println!("chaos error example {k}: {e}");
    }
    println!("{summary}");
    if let Some(path) = std::env::var_os("CHAOS_SUMMARY_FILE") {
        let _ = std::fs::write(PathBuf::from(path), format!("{summary}\n"));
    }
    assert!(t.acked > 1000, "writers made progress: {summary}");
    assert_eq!(
        t.tally.unexcused(),
        0,
        "{summary}\nunexcused anomalies, e.g. {:#?}",
        t.tally.examples
    );
    assert!(
        t.unreadable.is_empty(),
        "{summary}\nunreadable: {:?}",
        &t.unreadable[..t.unreadable.len().min(5)]
    );
    // Duplicates are never excused (unexcused() counts them); said again for the reader.
    assert_eq!(t.tally.get(Kind::Duplicated).0, 0, "{summary}");
}
