//! Harness: the deployment as real processes on free 127.0.0.1 ports, killed by Drop guards,
//! plus a broker HTTP helper; the cluster client (follows MOVED/ASK) is `testkit::cluster`'s.
// why: test harness: a failed unwrap here is a failed test, which is what we want.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// why: one etcd harness for the whole workspace; broker/tests owns it, e2e includes it.
#[path = "../../../broker/tests/support/etcd_server.rs"]
pub mod etcd_server;

use control::client::http;
use control::client::resp::{call_once, Value};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Generous: the CI machine has 2 noisy cores.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

pub use testkit::free_port;

pub fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// A workspace binary, next to the test executable (`target/<profile>/`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo test --workspace` (or scripts/test), which builds every binary",
        path.display()
    );
    path
}

/// A server process: killed on drop, its log in its own temp dir (see `testkit::Server`).
pub type Proc = testkit::Server;

fn answers_ping(port: u16) -> bool {
    call_once(&addr(port), &["PING"], CALL_TIMEOUT).is_ok()
}

/// Polls `f` every 20 ms until it is true, failing after `limit`.
pub fn wait_until(what: &str, limit: Duration, f: impl FnMut() -> bool) -> Duration {
    wait_until_explained(what, limit, f, String::new)
}

/// [`wait_until`], whose failure also quotes what `explain` reports then (state, logs).
pub fn wait_until_explained(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> bool,
    explain: impl FnOnce() -> String,
) -> Duration {
    let start = Instant::now();
    while !f() {
        if start.elapsed() >= limit {
            panic!("timed out after {limit:?}: {what}{}", explain());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

pub fn wait_ping(port: u16) {
    wait_until(&format!("port {port} answers PING"), READY_TIMEOUT, || {
        call_once(&addr(port), &["PING"], CALL_TIMEOUT).is_ok()
    });
}

pub fn redis() -> Proc {
    testkit::start("redis-server", redis_cmd, answers_ping, READY_TIMEOUT)
}

/// A redis-server on a given port (a restart on the same address), empty.
pub fn redis_on(port: u16) -> Proc {
    let mut cmd = redis_cmd;
    testkit::start_on(
        "redis-server",
        port,
        &mut cmd,
        &mut answers_ping,
        READY_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn redis_cmd(port: u16, dir: &Path) -> Command {
    let mut cmd = Command::new("redis-server");
    cmd.arg("--dir").arg(dir);
    // why: diskless sync without the default 5 s delay, so a new replica syncs at once.
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--repl-diskless-sync-delay",
        "0",
    ]);
    cmd
}

pub fn broker(quorum: u32) -> Proc {
    broker_with(quorum, &[])
}

/// A broker keeping its metadata in the etcd at `etcd` under `prefix`: brokers given the same
/// etcd and prefix share one store.
pub fn etcd_broker(quorum: u32, etcd: &str, prefix: &str) -> Proc {
    broker_with(
        quorum,
        &[
            ("UNDERMOON_STORAGE_TYPE", "etcd"),
            ("UNDERMOON_ETCD_ENDPOINTS", etcd),
            ("UNDERMOON_ETCD_PREFIX", prefix),
        ],
    )
}

pub fn broker_with(quorum: u32, env: &[(&str, &str)]) -> Proc {
    let cmd = |port: u16, _: &Path| {
        let mut cmd = Command::new(bin("mem_broker"));
        cmd.envs(env.iter().copied());
        cmd.env("UNDERMOON_ADDRESS", addr(port))
            .env("UNDERMOON_FAILURE_QUORUM", quorum.to_string())
            .env("UNDERMOON_FAILURE_TTL", "60");
        cmd
    };
    let up = |port: u16| {
        http::request(
            "GET",
            &addr(port),
            "/api/v3/version",
            &[],
            None,
            CALL_TIMEOUT,
        )
        .is_ok()
    };
    testkit::start("mem_broker", cmd, up, READY_TIMEOUT)
}

pub fn proxy() -> Proc {
    proxy_with(&[])
}

/// A proxy with extra environment (config keys as `UNDERMOON_*`).
pub fn proxy_with(env: &[(&str, &str)]) -> Proc {
    let cmd = |port: u16, dir: &Path| {
        let mut cmd = proxy_cmd(port, dir);
        cmd.envs(env.iter().copied());
        cmd
    };
    testkit::start("server_proxy", cmd, answers_ping, READY_TIMEOUT)
}

/// A proxy on a given port (a restart on the same address).
pub fn proxy_on(port: u16) -> Proc {
    let mut cmd = proxy_cmd;
    testkit::start_on(
        "server_proxy",
        port,
        &mut cmd,
        &mut answers_ping,
        READY_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn proxy_cmd(port: u16, _: &Path) -> Command {
    let mut cmd = Command::new(bin("server_proxy"));
    cmd.env("UNDERMOON_ADDRESS", addr(port))
        .env("UNDERMOON_THREAD_NUMBER", "1");
    cmd
}

pub fn coordinator(broker: &str, reporter: &str, port: u16) -> Proc {
    coordinator_with(broker, reporter, port, &[])
}

/// A coordinator on `port` (tests pick it, to restart one on the same admin address).
pub fn coordinator_with(broker: &str, reporter: &str, port: u16, env: &[(&str, &str)]) -> Proc {
    let mut cmd = |port: u16, _: &Path| {
        let mut cmd = Command::new(bin("coordinator"));
        cmd.envs(env.iter().copied());
        cmd.env("UNDERMOON_ADDRESS", addr(port))
            .env("UNDERMOON_BROKER_ADDRESS", broker)
            .env("UNDERMOON_REPORTER_ID", reporter)
            .env("UNDERMOON_PROXY_TIMEOUT", "1")
            .env("UNDERMOON_THREAD_NUMBER", "4");
        cmd
    };
    testkit::start_on(
        "coordinator",
        port,
        &mut cmd,
        &mut answers_ping,
        READY_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// One HTTP call to the broker's API; returns (status, JSON body or Null).
pub fn api(broker: &str, method: &str, path: &str, body: Option<&str>) -> (u16, Json) {
    let r = http::request(
        method,
        broker,
        &format!("/api/v3{path}"),
        &[("Content-Type", "application/json")],
        body.map(str::as_bytes),
        CALL_TIMEOUT,
    )
    .unwrap();
    let json = serde_json::from_slice(&r.body).unwrap_or(Json::Null);
    (r.status, json)
}

pub fn addresses(broker: &str, path: &str) -> Vec<String> {
    let (_, j) = api(broker, "GET", path, None);
    j["addresses"]
        .as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// The deployment of the issue: a broker, 3 proxies with 2 Redis each on fake hosts
/// `host1..host3`, all registered. With `start_on`, any number of brokers (sharing one store,
/// e.g. on etcd) and proxies.
pub struct Deployment {
    /// The API calls of the helpers go to the first broker still running.
    pub brokers: Vec<Proc>,
    pub proxies: Vec<Proc>,
    pub redis: Vec<Proc>,
}

impl Deployment {
    pub fn start(quorum: u32) -> Self {
        Self::start_on(vec![broker(quorum)], 3)
    }

    /// `proxies` proxies on hosts `host1..`, registered through the first broker.
    pub fn start_on(brokers: Vec<Proc>, proxies_n: usize) -> Self {
        Self::start_with(brokers, proxies_n, &[])
    }

    /// As [`Deployment::start_on`], each proxy started with `proxy_env`.
    pub fn start_with(brokers: Vec<Proc>, proxies_n: usize, proxy_env: &[(&str, &str)]) -> Self {
        let broker = brokers.first().unwrap();
        let mut proxies = Vec::new();
        let mut redis_list = Vec::new();
        for host in 1..=proxies_n {
            let p = proxy_with(proxy_env);
            let (r1, r2) = (redis(), redis());
            let body = format!(
                r#"{{"proxy_address":"{}","nodes":["{}","{}"],"host":"host{host}"}}"#,
                p.addr(),
                r1.addr(),
                r2.addr()
            );
            let (status, _) = api(&broker.addr(), "POST", "/proxies/meta", Some(&body));
            assert_eq!(status, 200, "register proxy");
            proxies.push(p);
            redis_list.push(r1);
            redis_list.push(r2);
        }
        Self {
            brokers,
            proxies,
            redis: redis_list,
        }
    }

    /// The first broker still running.
    pub fn b(&self) -> String {
        self.brokers
            .iter()
            .find(|b| b.child.is_some())
            .expect("a running broker")
            .addr()
    }

    /// Creates cluster `mydb` with 4 nodes and waits until both serving proxies route every slot.
    pub fn create_cluster(&self) -> Json {
        let (status, body) = api(
            &self.b(),
            "POST",
            "/clusters/meta/mydb",
            Some(r#"{"node_number":4}"#),
        );
        assert_eq!(status, 200, "create cluster: {body}");
        let cluster = self.cluster();
        for p in self.cluster_proxies() {
            let port: u16 = p.rsplit_once(':').unwrap().1.parse().unwrap();
            wait_until_explained(
                &format!("proxy {p} configured"),
                READY_TIMEOUT,
                || slots_served(port, &[]) == 16384,
                || {
                    let log = self.proxies.iter().find(|x| x.addr() == p).map(Proc::log);
                    format!(
                        "; CLUSTER NODES: {:?}; its log:\n{}",
                        call_once(&p, &["CLUSTER", "NODES"], CALL_TIMEOUT),
                        log.unwrap_or_default()
                    )
                },
            );
        }
        cluster
    }

    pub fn cluster(&self) -> Json {
        let (_, j) = api(&self.b(), "GET", "/clusters/meta/mydb", None);
        j["cluster"].clone()
    }

    /// Addresses of the proxies serving `mydb`, in node order.
    pub fn cluster_proxies(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for n in self.cluster()["nodes"].as_array().unwrap() {
            let p = n["proxy_address"].as_str().unwrap().to_string();
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    pub fn proxy_by_addr(&mut self, a: &str) -> &mut Proc {
        self.proxies.iter_mut().find(|p| p.addr() == a).unwrap()
    }

    /// Waits until every master Redis of the cluster has its replica at its own offset, so
    /// every acknowledged write is on both nodes. why: replication is asynchronous; a write
    /// acknowledged by a master whose proxy is then killed is only safe once the replica has it.
    pub fn wait_replicated(&self) {
        let cluster = self.cluster();
        for n in cluster["nodes"].as_array().unwrap() {
            if n["repl"]["role"] != "master" {
                continue;
            }
            let a = n["address"].as_str().unwrap().to_string();
            wait_until(&format!("replica of {a} caught up"), READY_TIMEOUT, || {
                let info = info_replication(&a);
                let offset = field(&info, "master_repl_offset");
                info.lines().any(|l| {
                    l.starts_with("slave0:")
                        && l.contains("state=online")
                        && l.contains(&format!("offset={offset},"))
                })
            });
        }
    }
}

pub fn info_replication(node: &str) -> String {
    call_once(node, &["INFO", "replication"], CALL_TIMEOUT)
        .map(|v| v.text())
        .unwrap_or_default()
}

pub fn field(info: &str, name: &str) -> String {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Number of slots `CLUSTER SLOTS` on `port` assigns to a proxy not in `dead`.
pub fn slots_served(port: u16, dead: &[String]) -> usize {
    let Ok(Value::Array(ranges)) = call_once(&addr(port), &["CLUSTER", "SLOTS"], CALL_TIMEOUT)
    else {
        return 0;
    };
    let mut n = 0;
    for r in ranges {
        let Value::Array(items) = r else { continue };
        let (Some(Value::Int(lo)), Some(Value::Int(hi)), Some(Value::Array(node))) =
            (items.first(), items.get(1), items.get(2))
        else {
            continue;
        };
        let host = node.first().map(Value::text).unwrap_or_default();
        let port = match node.get(1) {
            Some(Value::Int(p)) => *p,
            _ => continue,
        };
        if !dead.contains(&format!("{host}:{port}")) {
            n += usize::try_from(hi - lo + 1).unwrap();
        }
    }
    n
}

// why: each test binary compiles this module and uses a different part of it.
#[allow(unused_imports)]
pub use testkit::cluster::{slot, ClusterClient};

pub fn key(i: usize) -> String {
    format!("key:{i}")
}
pub fn value(i: usize) -> String {
    format!("value-{i}")
}

/// Writes `n` keys through the cluster client.
pub fn write_keys(c: &mut ClusterClient, n: usize) {
    for i in 0..n {
        let r = c.cmd(&["SET", &key(i), &value(i)]);
        assert_eq!(r, Ok(Value::Simple("OK".into())), "SET {}", key(i));
    }
}

/// Indices of keys that do not read back their value.
pub fn missing_keys(c: &mut ClusterClient, n: usize) -> Vec<usize> {
    (0..n)
        .filter(|&i| c.cmd(&["GET", &key(i)]) != Ok(Value::Bulk(value(i).into_bytes())))
        .collect()
}

pub fn port_of(a: &str) -> u16 {
    a.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// The replacement serves `mydb` with replicas only, each `role:slave` of the master the
/// broker assigned, with the link up.
pub fn replacement_in_place(broker: &str, replacement: &str) -> bool {
    let (_, j) = api(broker, "GET", &format!("/proxies/meta/{replacement}"), None);
    let p = &j["proxy"];
    if p["cluster_name"] != "mydb" {
        return false;
    }
    let nodes = p["nodes"].as_array().cloned().unwrap_or_default();
    !nodes.is_empty()
        && nodes.iter().all(|n| {
            let Some(master) = n["repl"]["peers"][0]["node_address"].as_str() else {
                return false;
            };
            let info = info_replication(n["address"].as_str().unwrap());
            n["repl"]["role"] == "replica"
                && field(&info, "role") == "slave"
                && format!(
                    "{}:{}",
                    field(&info, "master_host"),
                    field(&info, "master_port")
                ) == master
                && field(&info, "master_link_status") == "up"
        })
}
