//! Per-core state: the installed snapshot with this core's backend groups, and the links to
//! the other cores used to broadcast a new snapshot.
//!
//! Install protocol: the core that accepts a SETCLUSTER builds one `Arc<ClusterSnapshot>`,
//! installs it, sends it to every other core over glommio shared channels and waits (bounded)
//! until each has swapped it in, so a `+OK` means every core routes by the new table. A core
//! installs only a newer generation, so two racing SETCLUSTERs end the same way everywhere.

use crate::backend::BackendGroup;
use crate::config::ProxyConfig;
use crate::metrics::CoreStats;
use crate::snapshot::ClusterSnapshot;
use glommio::channels::shared_channel::ConnectedSender;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A snapshot on its way to another core; `pending` counts cores yet to install it.
pub struct SnapshotMsg {
    /// The snapshot.
    pub snap: Arc<ClusterSnapshot>,
    /// Decremented by each receiving core after installing.
    pub pending: Arc<AtomicUsize>,
}

/// Last accepted SETCLUSTER, process-wide. Touched only by UMCTL, never per request.
#[derive(Debug, Default)]
pub struct EpochState {
    /// Epoch of the last accepted SETCLUSTER.
    pub epoch: u64,
    /// Generation of the last built snapshot.
    pub generation: u64,
}

/// Process-wide state shared by all cores, read outside the request path.
pub struct Control {
    /// Epoch bookkeeping for SETCLUSTER.
    pub epoch: Mutex<EpochState>,
    /// Replication roles of the local nodes (SETREPL), applied by the replicator task.
    pub repl: Mutex<crate::repl::ReplState>,
    /// Runtime `slowlog_log_slower_than` (CONFIG SET).
    pub slowlog_log_slower_than: AtomicI64,
    /// Runtime `slowlog_sample_rate` (CONFIG SET).
    pub slowlog_sample_rate: AtomicU64,
    /// One counter block per core.
    pub stats: Vec<CoreStats>,
    /// The slow log.
    pub slowlog: crate::slowlog::SlowLog,
    /// Running migration tasks, key locks and counters.
    pub migrations: crate::migration::registry::Registry,
    /// Proxy client id -> (backend address, the backend's client id) per backend of sessions
    /// holding a relay connection (`session::relay`), so `CLIENT TRACKING ... REDIRECT <id>` can name
    /// the backend connection that receives the invalidations. Touched only when a relay
    /// opens or closes and on CLIENT TRACKING, never on the request path.
    pub relay_ids: Mutex<std::collections::HashMap<u64, Vec<(String, i64)>>>,
    /// Until when (ms since the Unix epoch) a `CLIENT PAUSE` sent through this proxy holds the
    /// backends (`session::pause`); 0: none. Written on CLIENT PAUSE/UNPAUSE only.
    pub pause_until_ms: AtomicU64,
}

impl Control {
    /// Control state for `cores` cores.
    pub fn new(config: &ProxyConfig, cores: usize) -> Arc<Self> {
        Arc::new(Self {
            epoch: Mutex::new(EpochState::default()),
            repl: Mutex::new(crate::repl::ReplState::default()),
            slowlog_log_slower_than: AtomicI64::new(config.slowlog_log_slower_than),
            slowlog_sample_rate: AtomicU64::new(config.slowlog_sample_rate),
            stats: (0..cores).map(|_| CoreStats::default()).collect(),
            slowlog: crate::slowlog::SlowLog::default(),
            migrations: crate::migration::registry::Registry::default(),
            relay_ids: Mutex::new(std::collections::HashMap::new()),
            pause_until_ms: AtomicU64::new(0),
        })
    }
}

/// The snapshot as this core uses it: routing data plus this core's backend groups, indexed
/// like the snapshot's local list.
pub struct CoreView {
    /// The shared snapshot.
    pub snap: Arc<ClusterSnapshot>,
    /// Backend group of each local address.
    pub backends: Vec<Rc<BackendGroup>>,
    /// Connections to each peer proxy, indexed like the snapshot's peer list; empty unless
    /// `active_redirection` is on.
    pub peers: Vec<Rc<BackendGroup>>,
}

/// One core.
pub struct Shard {
    /// Core index (0-based).
    pub core: usize,
    /// Static config.
    pub config: Arc<ProxyConfig>,
    /// Process-wide state.
    pub control: Arc<Control>,
    view: RefCell<Rc<CoreView>>,
    groups: RefCell<HashMap<String, Rc<BackendGroup>>>,
    peer_groups: RefCell<HashMap<String, Rc<BackendGroup>>>,
    /// Connections for re-forwarding a request that came with `UMFORWARD n`, one pool per
    /// (peer, n). why: pipelined connections are FIFO; if the second hop shared the first
    /// hop's connection, two proxies with disagreeing metadata would wait on each other's
    /// queues until the backend timeout instead of reaching the hop limit.
    relay_groups: RefCell<HashMap<(String, u64), Rc<BackendGroup>>>,
    peers: RefCell<Vec<ConnectedSender<SnapshotMsg>>>,
    next_session: Cell<u64>,
    sample_count: Cell<u64>,
}

/// How long SETCLUSTER waits for the other cores. why: they install within microseconds
/// unless stalled; the reply must not hang if one is.
const INSTALL_WAIT: Duration = Duration::from_secs(2);

impl Shard {
    /// A core with no cluster.
    pub fn new(core: usize, config: Arc<ProxyConfig>, control: Arc<Control>) -> Rc<Self> {
        Rc::new(Self {
            core,
            config,
            control,
            view: RefCell::new(Rc::new(CoreView {
                snap: Arc::new(ClusterSnapshot::default()),
                backends: Vec::new(),
                peers: Vec::new(),
            })),
            groups: RefCell::new(HashMap::new()),
            peer_groups: RefCell::new(HashMap::new()),
            relay_groups: RefCell::new(HashMap::new()),
            peers: RefCell::new(Vec::new()),
            next_session: Cell::new(0),
            sample_count: Cell::new(0),
        })
    }

    /// Adds a link to another core.
    pub fn add_peer(&self, tx: ConnectedSender<SnapshotMsg>) {
        self.peers.borrow_mut().push(tx);
    }

    /// The current view (an `Rc` clone: no lock, no atomic).
    pub fn view(&self) -> Rc<CoreView> {
        self.view.borrow().clone()
    }

    /// This core's counters.
    pub fn stats(&self) -> Option<&CoreStats> {
        self.control.stats.get(self.core)
    }

    /// True for 1 in `slowlog_sample_rate` requests (none while the log is disabled by a
    /// negative `slowlog_log_slower_than`).
    pub fn sample_slow(&self) -> bool {
        if self.control.slowlog_log_slower_than.load(Ordering::Relaxed) < 0 {
            return false;
        }
        let rate = self
            .control
            .slowlog_sample_rate
            .load(Ordering::Relaxed)
            .max(1);
        let n = self.sample_count.get().wrapping_add(1);
        self.sample_count.set(n);
        n.is_multiple_of(rate)
    }

    /// A per-core session number, used to pick the session's backend connections.
    pub fn next_session_id(&self) -> u64 {
        let id = self.next_session.get();
        self.next_session.set(id.wrapping_add(1));
        id
    }

    /// Swaps in `snap` if it is newer than the installed one, reusing backend groups of
    /// unchanged addresses and closing the others.
    pub fn install(&self, snap: Arc<ClusterSnapshot>) {
        if snap.generation <= self.view.borrow().snap.generation {
            return;
        }
        let mut old = std::mem::take(&mut *self.groups.borrow_mut());
        let mut groups = HashMap::new();
        let mut backends = Vec::with_capacity(snap.local.len());
        let timeout = Duration::from_millis(self.config.backend_timeout.max(1));
        for (addr, _) in &snap.local {
            let g = old
                .remove(addr)
                .unwrap_or_else(|| BackendGroup::new(addr, self.config.backend_conn_num, timeout));
            groups.insert(addr.clone(), g.clone());
            backends.push(g);
        }
        for g in old.values() {
            g.close();
        }
        *self.groups.borrow_mut() = groups;
        let peers = self.install_peers(&snap, timeout);
        let view = Rc::new(CoreView {
            snap,
            backends,
            peers,
        });
        crate::migration::drain::on_install(&view);
        crate::session::shard_slots_moved(&view);
        *self.view.borrow_mut() = view;
    }

    /// Pooled connections to the peer proxies, for active redirection.
    fn install_peers(&self, snap: &ClusterSnapshot, timeout: Duration) -> Vec<Rc<BackendGroup>> {
        let mut old = std::mem::take(&mut *self.peer_groups.borrow_mut());
        let mut groups = HashMap::new();
        let mut peers = Vec::new();
        if self.config.active_redirection {
            for (addr, _) in &snap.peer {
                let g = old.remove(addr).unwrap_or_else(|| {
                    BackendGroup::new(addr, self.config.backend_conn_num, timeout)
                });
                groups.insert(addr.clone(), g.clone());
                peers.push(g);
            }
        }
        for g in old.values() {
            g.close();
        }
        *self.peer_groups.borrow_mut() = groups;
        self.relay_groups.borrow_mut().retain(|(addr, _), g| {
            let keep = snap.peer.iter().any(|(a, _)| a == addr);
            if !keep {
                g.close();
            }
            keep
        });
        peers
    }

    /// The pool for re-forwarding to `addr` a request that arrived with `hops` left.
    pub fn relay_group(&self, addr: &str, hops: u64) -> Rc<BackendGroup> {
        let key = (addr.to_string(), hops);
        self.relay_groups
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| {
                let timeout = Duration::from_millis(self.config.backend_timeout.max(1));
                BackendGroup::new(addr, self.config.backend_conn_num, timeout)
            })
            .clone()
    }

    /// Installs `snap` here and on every other core, waiting (bounded) until they have.
    pub async fn broadcast(&self, snap: Arc<ClusterSnapshot>) {
        self.install(snap.clone());
        let pending = {
            let peers = self.peers.borrow();
            let pending = Arc::new(AtomicUsize::new(peers.len()));
            for tx in peers.iter() {
                let msg = SnapshotMsg {
                    snap: snap.clone(),
                    pending: pending.clone(),
                };
                // why: the queue only fills if a core is stuck; waiting would stall this one.
                if tx.try_send(msg).is_err() {
                    log::error!("core {}: could not send the snapshot to a core", self.core);
                    pending.fetch_sub(1, Ordering::AcqRel);
                }
            }
            pending
        };
        let start = Instant::now();
        while pending.load(Ordering::Acquire) > 0 && start.elapsed() < INSTALL_WAIT {
            glommio::timer::sleep(Duration::from_micros(200)).await;
        }
    }
}
