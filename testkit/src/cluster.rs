//! A minimal Redis Cluster client for tests: slot map from `CLUSTER SLOTS`, follows `MOVED`
//! and `ASK`, waits and retries on `TRYAGAIN`, and says which outcome it got, so a test can
//! tell "executed", "redirected then executed" and "unknown" (connection lost mid-command)
//! apart.

use control::client::resp::{call_once, Conn, Value};
use std::collections::HashMap;
use std::time::Duration;

/// Timeout of each connection and call.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Most redirections followed for one command. why: a migration step may bounce a command
/// a few times (MOVED to the destination, TRYAGAIN while the switch completes).
const MAX_REDIRECTS: usize = 200;

/// Hash slot of a key (the one definition the proxy uses too).
pub use control::keyslot::key_slot as slot;

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The node's reply (never a redirect), and how many redirects were followed.
    Reply(Value, u32),
    /// The connection failed after the command may have been sent: it may or may not have
    /// run.
    Unknown(String),
    /// Gave up without the command being executed (too many redirects, no node).
    NotRun(String),
}

/// The client.
pub struct ClusterClient {
    seeds: Vec<String>,
    slots: Vec<String>,
    conns: HashMap<String, Conn>,
}

impl ClusterClient {
    /// A client that learns the slot map from the first seed that answers.
    pub fn new(seeds: Vec<String>) -> Self {
        let mut c = Self {
            seeds,
            slots: vec![String::new(); 16384],
            conns: HashMap::new(),
        };
        c.refresh();
        c
    }

    /// Replaces the seeds (e.g. after a proxy was replaced) and reloads the map.
    pub fn set_seeds(&mut self, seeds: Vec<String>) {
        self.seeds = seeds;
        self.refresh();
    }

    /// Reloads the slot map.
    pub fn refresh(&mut self) {
        for s in self.seeds.clone() {
            let Ok(Value::Array(ranges)) = call_once(&s, &["CLUSTER", "SLOTS"], TIMEOUT) else {
                continue;
            };
            for r in ranges {
                let Value::Array(items) = r else { continue };
                if let (Some(Value::Int(lo)), Some(Value::Int(hi)), Some(Value::Array(node))) =
                    (items.first(), items.get(1), items.get(2))
                {
                    if let (Some(h), Some(Value::Int(p))) = (node.first(), node.get(1)) {
                        for s in *lo..=*hi {
                            if let Some(x) = self.slots.get_mut(s as usize) {
                                *x = format!("{}:{p}", h.text());
                            }
                        }
                    }
                }
            }
            return;
        }
    }

    fn call_at(&mut self, node: &str, args: &[&str]) -> std::io::Result<Value> {
        if !self.conns.contains_key(node) {
            let c = Conn::connect(node, TIMEOUT)?;
            self.conns.insert(node.to_string(), c);
        }
        let r = match self.conns.get_mut(node) {
            Some(c) => c.call(args),
            None => Err(std::io::Error::other("no connection")),
        };
        if r.is_err() {
            self.conns.remove(node);
        }
        r
    }

    /// Runs an idempotent single-key command (a GET, or a SET of a fixed value): a connection
    /// lost mid-command is retried (the map is already refreshed), a few times at most; the
    /// reply, or the last failure's text.
    pub fn cmd(&mut self, args: &[&str]) -> Result<Value, String> {
        let mut last = String::new();
        for _ in 0..5 {
            match self.run(args) {
                Outcome::Reply(v, _) => return Ok(v),
                Outcome::Unknown(e) => last = e,
                Outcome::NotRun(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Runs a single-key command (key at argument 1).
    pub fn run(&mut self, args: &[&str]) -> Outcome {
        let s = usize::from(slot(args.get(1).unwrap_or(&"").as_bytes()));
        let mut node = self.slots.get(s).cloned().unwrap_or_default();
        let mut asking = false;
        let mut redirects = 0;
        let mut last = String::new();
        for _ in 0..MAX_REDIRECTS {
            if node.is_empty() {
                std::thread::sleep(Duration::from_millis(20));
                self.refresh();
                node = self.slots.get(s).cloned().unwrap_or_default();
                if node.is_empty() {
                    continue;
                }
            }
            if asking {
                let _ = self.call_at(&node, &["ASKING"]);
            }
            match self.call_at(&node, args) {
                Ok(Value::Error(e)) if e.starts_with("MOVED ") => {
                    node = e.split(' ').nth(2).unwrap_or_default().to_string();
                    if let Some(x) = self.slots.get_mut(s) {
                        x.clone_from(&node);
                    }
                    asking = false;
                    redirects += 1;
                    last = e;
                }
                Ok(Value::Error(e)) if e.starts_with("ASK ") => {
                    node = e.split(' ').nth(2).unwrap_or_default().to_string();
                    asking = true;
                    redirects += 1;
                    last = e;
                }
                Ok(Value::Error(e)) if e.starts_with("TRYAGAIN") => {
                    std::thread::sleep(Duration::from_millis(10));
                    redirects += 1;
                    last = e;
                }
                Ok(v) => return Outcome::Reply(v, redirects),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    // why: refused at connect: the command was never sent.
                    last = e.to_string();
                    std::thread::sleep(Duration::from_millis(20));
                    self.refresh();
                    node = self.slots.get(s).cloned().unwrap_or_default();
                }
                Err(e) => {
                    self.refresh();
                    return Outcome::Unknown(e.to_string());
                }
            }
        }
        Outcome::NotRun(last)
    }
}
