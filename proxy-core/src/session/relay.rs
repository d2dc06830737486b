//! Relay: a session whose connection state makes the backend speak unasked — Pub/Sub
//! (`SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE`), `MONITOR`, replication (`SYNC`/`PSYNC`) — gets a
//! backend connection of its own, outside every pool, and a task that copies what the backend
//! sends into the session's reply queue as it comes.
//!
//! ```text
//!  client ─► session ─► relay socket ─► backend
//!  client ◄─ writer ◄─ Queue ◄─ pump task ◄─┘   (replies and pushes, in arrival order)
//! ```
//!
//! While the state lasts, the client's commands go to the relay socket, where Redis itself
//! applies its rules (RESP2: only the subscribe family and PING). Any other command first sends
//! a barrier (`PING <marker>`, its reply swallowed) so every reply and message the backend sent
//! before is queued; then, if the subscriptions have all ended, the relay is closed and the
//! command is dispatched as usual; in RESP3 (where a subscribed client may run any command)
//! it is dispatched as usual with the relay kept. `MONITOR` and `SYNC` last until the session
//! ends or `RESET`. The relay socket is closed, never reused.
//!
//! Shard channels (issue #9) are routed by slot like keys: `-MOVED`, or in active
//! redirection a relay to the owning proxy. Those of another local backend than the relay's
//! get an extra connection there ([`Mode::Shard`]); commands switching connection first drain
//! the previous one, so replies keep their order. After each new slot table,
//! [`shard_slots_moved`] unsubscribes the channels whose slot left, and the client gets Redis
//! 7's `sunsubscribe` push. A relay whose backend goes away ends the client with an error.

use super::eq;
use super::{Pending, Queue, Session};
use crate::command::{Kind, ProxyCmd};
use crate::errors::{fixed, Disposition};
use crate::io::{split, ReadBuf, ReadHalf, WriteHalf};
use crate::resp::request::Request;
use crate::resp::{reply, Limits};
use crate::shard::CoreView;
use crate::slot::{key_slot, Owner};
use crate::sync::{Notify, ReplySlot};
use bytes::Bytes;
use futures_lite::AsyncWriteExt;
use glommio::net::TcpStream;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::{Rc, Weak};
use std::time::Duration;

/// Read chunk of a relay. why: an RDB transfer (SYNC) streams large; Pub/Sub is small.
const READ_CHUNK: usize = 16 * 1024;
const HELLO3: &[u8] = b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
const LOST: &[u8] = b"-ERR proxy: pub/sub backend connection lost\r\n";
const CLIENT_ID: &[u8] = b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n";

/// What the relay carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Subscriptions: ends when the backend reports none left.
    PubSub,
    /// `MONITOR`: until the session ends.
    Monitor,
    /// `SYNC`/`PSYNC`: raw bytes (an RDB payload is not a RESP frame).
    Raw,
    /// `CLIENT TRACKING ON` ([`super::tracking`]): the session's keyed commands run here, so
    /// the backend tracks what this client read; until tracking is turned off.
    Track,
    /// A listener on another local backend beside a Pub/Sub relay: it gets the same
    /// channel and pattern subscriptions and passes on only their messages (keyspace
    /// notifications of keys that live there); confirmations come from the main relay.
    Listen,
    /// A listener beside a MONITOR relay: every line the other backend logs.
    MonitorListen,
    /// Shard channels on another backend than the main relay's (a cluster client keeps one
    /// connection per node, and a proxy node has several backends): every frame passes.
    Shard,
}

/// State shared by the session and the pump task.
#[derive(Default)]
struct Shared {
    /// Frames still to drop (the `HELLO 3` reply).
    skip: Cell<u8>,
    /// The next frame is the reply to our `CLIENT ID`: registered, not forwarded.
    id_pending: Cell<bool>,

    /// Channels + patterns, and shard channels, as the backend last counted them.
    subs: Cell<i64>,
    shard_subs: Cell<i64>,
    /// The barrier in flight: its expected reply and who waits for it.
    barrier: RefCell<Option<(Vec<u8>, Rc<ReplySlot>)>>,
    /// Shard channels subscribed, as the backend confirmed them: checked against each new
    /// slot table ([`shard_slots_moved`]).
    shard_channels: RefCell<HashSet<Vec<u8>>>,
    /// Shard channels of the client over the main relay and its extra shard connections
    /// (one cell shared by them all): the count a confirmation reports, as one Redis would.
    shard_total: Rc<Cell<i64>>,
    stop: Notify,
    dead: Cell<bool>,
    /// `CLIENT TRACKINGINFO` replies due, and the proxy id their `redirect` becomes.
    info_due: Cell<u32>,
    info_id: Cell<i64>,
}

/// The relay socket's write half, shared by the session and the task that unsubscribes
/// shard channels whose slot moved away; the semaphore keeps their writes whole.
struct Writer {
    half: RefCell<Option<WriteHalf>>,
    lock: glommio::sync::Semaphore,
}

impl Writer {
    /// Writes and flushes `bytes`; false when the socket is gone.
    async fn write(&self, bytes: &[u8]) -> bool {
        let Ok(_permit) = self.lock.acquire_permit(1).await else {
            return false;
        };
        let Some(mut w) = self.half.borrow_mut().take() else {
            return false;
        };
        let ok = w.write_all(bytes).await.is_ok() && w.flush().await.is_ok();
        *self.half.borrow_mut() = Some(w);
        ok
    }
}

/// A registered Pub/Sub relay: backend address, state, writer.
type Registered = (String, Weak<Shared>, Weak<Writer>);

thread_local! {
    /// This core's Pub/Sub relays (address, state, writer), for [`shard_slots_moved`]. why:
    /// a core runs on one thread, so this is per core; dead entries are pruned as it goes.
    static PUBSUB_RELAYS: RefCell<Vec<Registered>> =
        const { RefCell::new(Vec::new()) };
}

/// After a new slot table: every Pub/Sub relay of this core unsubscribes the shard channels
/// whose slot it no longer serves, and the backend's `sunsubscribe` confirmations reach the
/// client as Redis 7 sends them when a slot leaves a node, so the client resubscribes at the
/// new owner.
pub(crate) fn shard_slots_moved(view: &CoreView) {
    let relays: Vec<(String, Rc<Shared>, Rc<Writer>)> = PUBSUB_RELAYS.with(|r| {
        let mut r = r.borrow_mut();
        r.retain(|(_, _, w)| w.strong_count() > 0);
        r.iter()
            .filter_map(|(a, s, w)| Some((a.clone(), s.upgrade()?, w.upgrade()?)))
            .collect()
    });
    for (addr, shared, writer) in relays {
        let moved: Vec<Vec<u8>> = shared
            .shard_channels
            .borrow()
            .iter()
            .filter(|ch| !serves(view, &addr, key_slot(ch)))
            .cloned()
            .collect();
        if moved.is_empty() {
            continue;
        }
        let mut req = Vec::with_capacity(64);
        crate::resp::compose::array_header(&mut req, moved.len() + 1);
        crate::resp::compose::bulk(&mut req, b"SUNSUBSCRIBE");
        for ch in &moved {
            crate::resp::compose::bulk(&mut req, ch);
        }
        glommio::spawn_local(async move {
            let _ = writer.write(&req).await;
        })
        .detach();
    }
}

/// Whether the relay to `addr` still serves `slot`: `addr` is its local owner, or (a relay
/// to a peer proxy in active redirection) the peer owning it.
fn serves(view: &CoreView, addr: &str, slot: u16) -> bool {
    match view.snap.table.owner(slot) {
        Owner::Local(i) => view.snap.backend_addr(i) == Some(addr),
        Owner::Peer(p) => view.snap.peer_addr(p) == Some(addr),
        Owner::Unbound => false,
    }
}

/// A session's relay connection.
pub struct Relay {
    /// Backend address.
    pub addr: String,
    pub(super) mode: Mode,
    w: Rc<Writer>,
    shared: Rc<Shared>,
    barriers: u64,
    /// Proxy client id this relay is registered under in `Control::relay_ids`.
    registered: Option<(u64, std::sync::Arc<crate::shard::Control>)>,
    /// `CLIENT TRACKING ... REDIRECT <id>`: the proxy id given (0: none).
    pub(super) redirect: u64,
    /// Pub/Sub relay with no subscription left: the session's commands are dispatched as
    /// usual; kept for its next SUBSCRIBE.
    pub(super) idle: bool,
    /// Listeners on the other local backends (channel and pattern subscriptions).
    listeners: Vec<(WriteHalf, Rc<Shared>)>,
    /// Connections for shard channels of other backends than `addr` ([`Mode::Shard`]).
    shards: Vec<Extra>,
    /// Where the last command went: 0 the main relay, `i + 1` `shards[i]`. why: before a
    /// command goes to another connection the last one is drained (a barrier), so replies
    /// stay in command order.
    last: usize,
    /// What the proxy keeps of the client's tracking ([`super::tracking`]).
    pub(super) track: super::tracking::TrackState,
}

/// A shard channel connection beside the main relay.
struct Extra {
    addr: String,
    w: Rc<Writer>,
    shared: Rc<Shared>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.notify();
        for (_, l) in &self.listeners {
            l.stop.notify();
        }
        for x in &self.shards {
            x.shared.stop.notify();
        }
        if let Some((id, ctl)) = self.registered.take() {
            if let Ok(mut m) = ctl.relay_ids.lock() {
                m.remove(&id);
            }
        }
    }
}

impl Relay {
    /// Drops `n` more replies (commands the proxy sends on the client's behalf).
    pub(super) fn skip_replies(&self, n: u8) {
        self.shared
            .skip
            .set(self.shared.skip.get().saturating_add(n));
    }

    /// Whether a subscription is still open on it.
    pub(super) fn subscribed(&self) -> bool {
        self.shared.subs.get() > 0
            || self.shared.shard_subs.get() > 0
            || self.shards.iter().any(|x| x.shared.shard_subs.get() > 0)
    }

    /// The connection holding shard channel `ch`, if any (0: main, `i + 1`: `shards[i]`).
    fn holder(&self, ch: &[u8]) -> Option<usize> {
        if self.shared.shard_channels.borrow().contains(ch) {
            return Some(0);
        }
        self.shards
            .iter()
            .position(|x| x.shared.shard_channels.borrow().contains(ch))
            .map(|j| j + 1)
    }

    /// The connection `i` (0: main, `i + 1`: `shards[i]`).
    fn conn(&self, i: usize) -> Option<(Rc<Shared>, Rc<Writer>)> {
        match i.checked_sub(1) {
            None => Some((self.shared.clone(), self.w.clone())),
            Some(j) => self.shards.get(j).map(|x| (x.shared.clone(), x.w.clone())),
        }
    }
}

/// Where a shard channel (un)subscription goes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ShardTarget {
    /// A relay to this address: the local backend owning the slot, or in active
    /// redirection the peer proxy owning it (which serves it from its own backend).
    Addr(String),
    /// Another proxy owns the slot: `-MOVED` (cluster mode).
    Moved { slot: u16, peer: u16 },
    /// Nobody owns it.
    Unbound(u16),
    /// The channels hash to several slots (`-CROSSSLOT`, as Redis).
    CrossSlot,
    /// No cluster configured.
    NoCluster,
}

impl Session {
    /// Where the SSUBSCRIBE/SUNSUBSCRIBE `req` goes. SUNSUBSCRIBE with no channel (all of
    /// them) goes to the relay it has, or the first backend.
    pub(super) fn shard_target(&self, req: &Request) -> ShardTarget {
        let view = self.shard.view();
        let mut slot = None;
        for ch in req.args().skip(1) {
            let s = key_slot(ch);
            match slot {
                Some(prev) if prev != s => return ShardTarget::CrossSlot,
                _ => slot = Some(s),
            }
        }
        let Some(slot) = slot else {
            return match (self.relay.as_ref(), view.backends.first()) {
                (Some(r), _) => ShardTarget::Addr(r.addr.clone()),
                (None, Some(g)) => ShardTarget::Addr(g.addr().to_string()),
                (None, None) => ShardTarget::NoCluster,
            };
        };
        if !view.snap.has_cluster() {
            return ShardTarget::NoCluster;
        }
        match view.snap.table.owner(slot) {
            Owner::Local(i) => match view.snap.backend_addr(i) {
                Some(a) => ShardTarget::Addr(a.to_string()),
                None => ShardTarget::Unbound(slot),
            },
            Owner::Peer(peer) if self.shard.config.active_redirection => {
                match view.snap.peer_addr(peer) {
                    Some(a) => ShardTarget::Addr(a.to_string()),
                    None => ShardTarget::Unbound(slot),
                }
            }
            Owner::Peer(peer) => ShardTarget::Moved { slot, peer },
            Owner::Unbound => ShardTarget::Unbound(slot),
        }
    }

    /// The reply for a shard (un)subscription that no relay of this proxy serves.
    pub(super) fn reply_shard_error(&mut self, t: ShardTarget, req: &Request) {
        use crate::route::Route;
        match t {
            ShardTarget::Moved { slot, peer } => {
                self.reply_route_error(Route::Moved { slot, peer }, req)
            }
            ShardTarget::Unbound(slot) => self.reply_route_error(Route::SlotUnbound(slot), req),
            ShardTarget::CrossSlot => self.reply_static(fixed::MULTI_SLOTS),
            ShardTarget::NoCluster | ShardTarget::Addr(_) => {
                self.reply_static(fixed::CLUSTER_NOT_FOUND)
            }
        }
    }
}

/// The subscribe family and PING: what a subscribed RESP2 client may send.
fn is_pubsub_cmd(name: &[u8]) -> bool {
    const NAMES: [&str; 7] = [
        "subscribe",
        "psubscribe",
        "ssubscribe",
        "unsubscribe",
        "punsubscribe",
        "sunsubscribe",
        "ping",
    ];
    NAMES
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

/// A barrier: `PING <marker>`, and the reply that shows every earlier command on that
/// connection was answered.
fn marker_ping(marker: &str) -> (Vec<u8>, Vec<u8>) {
    let mut req = Vec::with_capacity(64);
    crate::resp::compose::array_header(&mut req, 2);
    crate::resp::compose::bulk(&mut req, b"PING");
    crate::resp::compose::bulk(&mut req, marker.as_bytes());
    let mut expect = Vec::with_capacity(48);
    crate::resp::compose::bulk(&mut expect, marker.as_bytes());
    (req, expect)
}

/// UNSUBSCRIBE, PUNSUBSCRIBE.
fn is_unsubscribe(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"unsubscribe") || name.eq_ignore_ascii_case(b"punsubscribe")
}

/// SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE: node-wide subscriptions.
fn is_channel_cmd(name: &[u8]) -> bool {
    const NAMES: [&str; 4] = ["subscribe", "psubscribe", "unsubscribe", "punsubscribe"];
    NAMES
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

/// Updates the subscription counts from a confirmation frame (`*3`/`>3`: kind, name, count).
/// Returns the frame to send instead, when its count must become the connection's total.
fn track(shared: &Shared, frame: &[u8]) -> Option<Bytes> {
    if !matches!(frame.first(), Some(b'*' | b'>')) {
        return None;
    }
    let mut arr = frame.to_vec();
    if let Some(b) = arr.first_mut() {
        *b = b'*';
    }
    let el = reply::array_elements(&arr, &Limits::REPLY)?;
    let (Some(&(ks, ke)), Some(&(cs, ce))) = (el.first(), el.get(2)) else {
        return None;
    };
    let kind = arr.get(ks..ke).unwrap_or_default();
    let count = arr
        .get(cs..ce)
        .and_then(|c| c.strip_prefix(b":"))
        .and_then(|c| c.strip_suffix(b"\r\n"))
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse::<i64>().ok());
    let count = count?;
    let ends = |w: &[u8]| kind.ends_with(w);
    if ends(b"\r\nsubscribe\r\n")
        || ends(b"\r\npsubscribe\r\n")
        || ends(b"\r\nunsubscribe\r\n")
        || ends(b"\r\npunsubscribe\r\n")
    {
        shared.subs.set(count);
    } else if ends(b"\r\nssubscribe\r\n") || ends(b"\r\nsunsubscribe\r\n") {
        let old = shared.shard_subs.replace(count);
        let total = shared
            .shard_total
            .get()
            .saturating_sub(old)
            .saturating_add(count);
        shared.shard_total.set(total);
        let name = el
            .get(1)
            .and_then(|&(s, e)| arr.get(s..e))
            .and_then(bulk_body);
        if let Some(name) = name {
            let mut set = shared.shard_channels.borrow_mut();
            if ends(b"\r\nssubscribe\r\n") {
                set.insert(name.to_vec());
            } else {
                set.remove(name);
            }
        }
        if total != count {
            let mut out = Vec::with_capacity(frame.len() + 8);
            out.extend_from_slice(frame.get(..cs)?);
            crate::resp::compose::integer(&mut out, total);
            return Some(Bytes::from(out));
        }
    }
    None
}

/// The body of a bulk string frame (`$n\r\nbody\r\n`).
fn bulk_body(frame: &[u8]) -> Option<&[u8]> {
    let nl = memchr::memchr(b'\n', frame)?;
    frame.get(nl + 1..)?.strip_suffix(b"\r\n")
}

/// A channel or pattern message (`message`/`pmessage`), RESP2 or RESP3, or a tracking
/// push (`invalidate` to a RESP3 client the tracking redirects to).
fn is_message(frame: &[u8]) -> bool {
    let Some(rest) = frame.get(1..) else {
        return false;
    };
    let Some(nl) = memchr::memchr(b'\n', rest) else {
        return false;
    };
    let first = rest.get(nl + 1..).unwrap_or_default();
    first.starts_with(b"$7\r\nmessage\r\n")
        || first.starts_with(b"$8\r\npmessage\r\n")
        || (frame.first() == Some(&b'>') && first.starts_with(b"$10\r\ninvalidate\r\n"))
}

/// Ends the client of a relay whose backend went away: an error, then the close. why: a
/// subscriber must not wait for messages that can no longer come. A replication stream
/// (Raw) gets no error frame inside its bytes.
fn lost(queue: &Queue, mode: Mode) {
    if queue.closed.get() {
        return;
    }
    if mode != Mode::Raw {
        queue.push(Pending::Ready(Bytes::from_static(LOST)));
    }
    queue.push(Pending::Close);
}

/// Copies what the backend sends into the session's queue until stopped or disconnected.
async fn pump(
    shared: Rc<Shared>,
    queue: Rc<Queue>,
    mut r: ReadHalf,
    mode: Mode,
    register: Option<(u64, String, std::sync::Arc<crate::shard::Control>)>,
    max_pending: usize,
) {
    let mut buf = ReadBuf::new(READ_CHUNK);
    loop {
        // why: back-pressure (`client_max_pending_replies`): a client that does not read its
        // messages stops the pump, so the backend's own output limit for Pub/Sub clients
        // applies, not proxy memory.
        while queue.items.borrow().len() >= max_pending {
            if queue.closed.get() {
                return;
            }
            queue.relay_space.notified().await;
        }
        let read = futures_lite::future::or(async { Some(buf.read_from(&mut r).await) }, async {
            shared.stop.notified().await;
            None
        })
        .await;
        match read {
            None => return,
            Some(Ok(n)) if n > 0 => {}
            Some(_) => {
                shared.dead.set(true);
                if let Some((_, slot)) = shared.barrier.borrow_mut().take() {
                    slot.fill(Bytes::new());
                }
                // why: the backend closed (QUIT, or it went away): so does the client, told
                // why, since its subscriptions (or a listener's messages) are gone with it.
                lost(&queue, mode);
                return;
            }
        }
        if mode == Mode::Raw {
            let n = buf.data().len();
            queue.push(Pending::Push(buf.take(n)));
            continue;
        }
        loop {
            match reply::scan(buf.data(), &Limits::REPLY) {
                Ok(Some(len)) => {
                    let frame = buf.take(len);
                    // why: a RESP3 push (an invalidation) may come before the reply awaited;
                    // it is the client's, never the reply dropped or read here.
                    let push = frame.first() == Some(&b'>');
                    if !push && shared.id_pending.replace(false) {
                        let id = frame
                            .strip_prefix(b":")
                            .and_then(|d| d.strip_suffix(b"\r\n"))
                            .and_then(|d| std::str::from_utf8(d).ok())
                            .and_then(|d| d.parse::<i64>().ok());
                        if let (Some(id), Some((pid, addr, ctl))) = (id, register.as_ref()) {
                            if let Ok(mut m) = ctl.relay_ids.lock() {
                                let ids = m.entry(*pid).or_default();
                                ids.retain(|(a, _)| a != addr);
                                ids.push((addr.clone(), id));
                            }
                        }
                        continue;
                    }
                    if !push && shared.skip.get() > 0 {
                        shared.skip.set(shared.skip.get() - 1);
                        continue;
                    }
                    let hit = shared
                        .barrier
                        .borrow()
                        .as_ref()
                        .is_some_and(|(m, _)| frame.ends_with(m));
                    if hit {
                        if let Some((_, slot)) = shared.barrier.borrow_mut().take() {
                            slot.fill(Bytes::new());
                        }
                        continue;
                    }
                    if !push && shared.info_due.get() > 0 {
                        // why: found by its shape, not its place: a barrier (PING) before it
                        // would clear the CLIENT CACHING flag it reports.
                        let id = shared.info_id.get();
                        if let Some(fixed) = super::tracking::set_redirect(&frame, id) {
                            shared.info_due.set(shared.info_due.get() - 1);
                            queue.push(Pending::Push(fixed));
                            continue;
                        }
                    }
                    if mode == Mode::Listen && !is_message(&frame) {
                        continue;
                    }
                    let frame = track(&shared, &frame).unwrap_or(frame);
                    queue.push(Pending::Push(frame));
                }
                Ok(None) => break,
                Err(_) => {
                    shared.dead.set(true);
                    lost(&queue, mode);
                    return;
                }
            }
        }
    }
}

impl Session {
    /// Opens a relay to `addr` (after every earlier reply is in), or queues an error.
    pub(super) async fn open_relay(&mut self, addr: &str, mode: Mode) -> bool {
        self.drain().await;
        // why: a session in a relay holds no other backend state.
        self.release_owned().await;
        let timeout = Duration::from_millis(self.shard.config.backend_timeout.max(100));
        let stream = match TcpStream::connect_timeout(addr, timeout).await {
            Ok(s) => s,
            Err(_) => {
                let msg = format!("ERR proxy: backend {addr} unavailable");
                self.error(&msg);
                return false;
            }
        };
        let _ = stream.set_nodelay(true);
        let (r, mut w) = split(stream);
        let shared = Rc::new(Shared::default());
        // why: the backend's id of this connection, for CLIENT TRACKING REDIRECT by others;
        // asked first, as the pump reads the id before any reply it skips.
        let register = matches!(mode, Mode::PubSub | Mode::Track);
        if register {
            if w.write_all(CLIENT_ID).await.is_err() {
                self.error("ERR proxy: backend connection lost");
                return false;
            }
            shared.id_pending.set(true);
        }
        if self.resp3 && mode != Mode::Raw {
            if w.write_all(HELLO3).await.is_err() {
                self.error("ERR proxy: backend connection lost");
                return false;
            }
            shared.skip.set(1);
        }
        let ctl = self.shard.control.clone();
        let pid = self.client_id();
        let reg = register.then(|| (pid, addr.to_string(), ctl.clone()));
        let cap = self.shard.config.client_max_pending_replies;
        glommio::spawn_local(pump(shared.clone(), self.queue.clone(), r, mode, reg, cap)).detach();
        let w = Rc::new(Writer {
            half: RefCell::new(Some(w)),
            lock: glommio::sync::Semaphore::new(1),
        });
        if mode == Mode::PubSub {
            PUBSUB_RELAYS.with(|r| {
                let mut r = r.borrow_mut();
                r.retain(|(_, _, w)| w.strong_count() > 0);
                r.push((addr.to_string(), Rc::downgrade(&shared), Rc::downgrade(&w)));
            });
        }
        self.relay = Some(Relay {
            addr: addr.to_string(),
            mode,
            w,
            shared,
            barriers: 0,
            registered: register.then_some((pid, ctl)),
            redirect: 0,
            idle: false,
            listeners: Vec::new(),
            shards: Vec::new(),
            last: 0,
            track: Default::default(),
        });
        true
    }

    /// Opens listeners on every other local backend for a channel/pattern relay to `addr`.
    async fn open_listeners(&mut self, addr: &str, mode: Mode) {
        let view = self.shard.view();
        if !view.backends.iter().any(|g| g.addr() == addr) {
            // why: a relay to a peer proxy (active redirection): that proxy listens on its
            // own backends; listeners here would deliver each message twice.
            return;
        }
        let timeout = Duration::from_millis(self.shard.config.backend_timeout.max(100));
        for g in view.backends.iter().filter(|g| g.addr() != addr) {
            let Ok(stream) = TcpStream::connect_timeout(g.addr(), timeout).await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (r, mut w) = split(stream);
            let shared = Rc::new(Shared::default());
            // why: a client redirecting its tracking here names this connection on this
            // backend (a subscriber to `__redis__:invalidate` listens on every backend).
            let register = mode == Mode::Listen;
            if register {
                if w.write_all(CLIENT_ID).await.is_err() {
                    continue;
                }
                shared.id_pending.set(true);
            }
            if self.resp3 {
                if w.write_all(HELLO3).await.is_err() {
                    continue;
                }
                shared.skip.set(1);
            }
            if mode == Mode::MonitorListen {
                // why: its `+OK` is not the client's; the main relay's is.
                if w.write_all(b"*1\r\n$7\r\nMONITOR\r\n").await.is_err() {
                    continue;
                }
                shared.skip.set(shared.skip.get() + 1);
            }
            let cap = self.shard.config.client_max_pending_replies;
            let reg = register.then(|| {
                let ctl = self.shard.control.clone();
                (self.client_id(), g.addr().to_string(), ctl)
            });
            glommio::spawn_local(pump(shared.clone(), self.queue.clone(), r, mode, reg, cap))
                .detach();
            if let Some(relay) = self.relay.as_mut() {
                relay.listeners.push((w, shared));
            }
        }
    }

    /// Writes a channel/pattern (un)subscription to the listeners too.
    async fn listeners_write(&mut self, bytes: &[u8]) {
        let Some(relay) = self.relay.as_mut() else {
            return;
        };
        for (w, _) in relay.listeners.iter_mut() {
            let _ = w.write_all(bytes).await;
            let _ = w.flush().await;
        }
    }

    /// Writes a channel/pattern (un)subscription to the listeners and waits until each
    /// backend applied it (a `PING` barrier). why: the client's confirmation comes from the
    /// main relay, sent after this; a message published once the client has it must find
    /// every backend subscribed already, or it is lost.
    async fn listeners_sync(&mut self, bytes: &[u8]) {
        let id = self.id;
        let Some(relay) = self.relay.as_mut() else {
            return;
        };
        relay.barriers += 1;
        let (ping, expect) = marker_ping(&format!(
            "undermoon-listener-barrier-{id}-{}",
            relay.barriers
        ));
        let mut out = bytes.to_vec();
        out.extend_from_slice(&ping);
        let mut waits = Vec::new();
        for (w, shared) in relay.listeners.iter_mut() {
            if shared.dead.get() {
                continue;
            }
            let slot = ReplySlot::new();
            *shared.barrier.borrow_mut() = Some((expect.clone(), slot.clone()));
            if w.write_all(&out).await.is_ok() && w.flush().await.is_ok() {
                waits.push(slot);
            } else {
                shared.barrier.borrow_mut().take();
            }
        }
        for s in waits {
            s.filled().await;
        }
    }

    /// Writes a request to the relay socket; its replies come through the pump.
    pub(super) async fn relay_write(&mut self, bytes: &[u8]) {
        let Some(relay) = self.relay.as_mut() else {
            return;
        };
        let w = relay.w.clone();
        if !w.write(bytes).await {
            if let Some(relay) = self.relay.as_ref() {
                relay.shared.dead.set(true);
            }
            self.relay = None;
            self.queue.push(Pending::Close);
        }
    }

    /// Waits until the backend answered everything sent on the relay before now (on the
    /// connection the last command went to: the others are drained already).
    pub(super) async fn relay_barrier(&mut self) {
        let Some(relay) = self.relay.as_mut() else {
            return;
        };
        relay.barriers += 1;
        let marker = format!("undermoon-relay-barrier-{}-{}", self.id, relay.barriers);
        let Some((shared, w)) = relay.conn(relay.last) else {
            return;
        };
        let (req, expect) = marker_ping(&marker);
        let slot = ReplySlot::new();
        *shared.barrier.borrow_mut() = Some((expect, slot.clone()));
        if shared.dead.get() {
            return;
        }
        if !w.write(&req).await {
            shared.dead.set(true);
            self.relay = None;
            self.queue.push(Pending::Close);
            return;
        }
        slot.filled().await;
    }

    /// Sends a shard (un)subscription to connection `i` of the relay (draining the one
    /// used before, if another).
    pub(super) async fn shard_write(&mut self, i: usize, bytes: &[u8]) {
        if self.relay.as_ref().is_some_and(|r| r.last != i) {
            self.relay_barrier().await;
        }
        let Some(relay) = self.relay.as_mut() else {
            return;
        };
        relay.last = i;
        let Some((shared, w)) = relay.conn(i) else {
            return;
        };
        if !w.write(bytes).await {
            shared.dead.set(true);
            self.relay = None;
            self.queue.push(Pending::Close);
        }
    }

    /// Sends on connection `i` a command the proxy issues for the client (its reply is
    /// dropped), without moving the client's commands off the connection they use.
    pub(super) async fn relay_quiet(&mut self, i: usize, bytes: &[u8]) {
        let Some((shared, w)) = self.relay.as_ref().and_then(|r| r.conn(i)) else {
            return;
        };
        shared.skip.set(shared.skip.get().saturating_add(1));
        if !w.write(bytes).await {
            shared.dead.set(true);
            self.relay = None;
            self.queue.push(Pending::Close);
        }
    }

    /// Sends `CLIENT TRACKINGINFO` on connection `i`; its reply shows `redirect` as `id`.
    pub(super) async fn relay_trackinginfo(&mut self, i: usize, bytes: &[u8], id: i64) {
        if let Some((shared, _)) = self.relay.as_ref().and_then(|r| r.conn(i)) {
            shared.info_id.set(id);
            shared.info_due.set(shared.info_due.get().saturating_add(1));
        }
        self.shard_write(i, bytes).await;
    }

    /// Number of connections of the relay (main and extra).
    pub(super) fn relay_conns(&self) -> usize {
        self.relay.as_ref().map_or(0, |r| r.shards.len() + 1)
    }

    /// The relay connection for shard channels on `addr`: the main one, an open extra one,
    /// or a new one. `None`: the backend is unavailable (the error is queued).
    pub(super) async fn shard_conn(&mut self, addr: &str) -> Option<usize> {
        let relay = self.relay.as_ref()?;
        if relay.addr == addr {
            return Some(0);
        }
        if let Some(j) = relay.shards.iter().position(|x| x.addr == addr) {
            return Some(j + 1);
        }
        let timeout = Duration::from_millis(self.shard.config.backend_timeout.max(100));
        let Ok(stream) = TcpStream::connect_timeout(addr, timeout).await else {
            self.relay_barrier().await;
            self.error(&format!("ERR proxy: backend {addr} unavailable"));
            return None;
        };
        let _ = stream.set_nodelay(true);
        let (r, mut w) = split(stream);
        let shared = Rc::new(Shared {
            shard_total: relay.shared.shard_total.clone(),
            ..Shared::default()
        });
        // why: the backend's id of this connection (tracking redirects name it), asked
        // before anything whose reply is skipped.
        let mut hello = CLIENT_ID.to_vec();
        shared.id_pending.set(true);
        if self.resp3 {
            hello.extend_from_slice(HELLO3);
            shared.skip.set(1);
        }
        let view = self.shard.view();
        if let (false, Some(pw)) = (
            view.backends.iter().any(|g| g.addr() == addr),
            self.shard.config.password.as_ref(),
        ) {
            // why: a peer proxy (active redirection) shares the cluster's password.
            crate::resp::compose::array_header(&mut hello, 2);
            crate::resp::compose::bulk(&mut hello, b"AUTH");
            crate::resp::compose::bulk(&mut hello, pw.as_bytes());
            shared.skip.set(shared.skip.get() + 1);
        }
        if w.write_all(&hello).await.is_err() {
            self.relay_barrier().await;
            self.error("ERR proxy: backend connection lost");
            return None;
        }
        let cap = self.shard.config.client_max_pending_replies;
        let reg = Some((
            self.client_id(),
            addr.to_string(),
            self.shard.control.clone(),
        ));
        glommio::spawn_local(pump(
            shared.clone(),
            self.queue.clone(),
            r,
            Mode::Shard,
            reg,
            cap,
        ))
        .detach();
        let w = Rc::new(Writer {
            half: RefCell::new(Some(w)),
            lock: glommio::sync::Semaphore::new(1),
        });
        PUBSUB_RELAYS.with(|r| {
            r.borrow_mut()
                .push((addr.to_string(), Rc::downgrade(&shared), Rc::downgrade(&w)));
        });
        let relay = self.relay.as_mut()?;
        relay.shards.push(Extra {
            addr: addr.to_string(),
            w,
            shared,
        });
        Some(relay.shards.len())
    }

    /// `HELLO 2|3` while holding a relay: the relay switches too (its reply dropped; the
    /// proxy's own HELLO reply is the answer), so pushes come in the client's protocol.
    pub(super) async fn relay_follow_hello(&mut self, kind: Option<Kind>, req: &Request) {
        if !matches!(kind, Some(Kind::Proxy(ProxyCmd::Hello))) {
            return;
        }
        if let (Some(v @ (b"2" | b"3")), Some(r)) = (req.arg(1), self.relay.as_ref()) {
            let mut hello = Vec::with_capacity(32);
            crate::resp::compose::array_header(&mut hello, 2);
            crate::resp::compose::bulk(&mut hello, b"HELLO");
            crate::resp::compose::bulk(&mut hello, v);
            r.skip_replies(1);
            for (_, l) in &r.listeners {
                l.skip.set(l.skip.get().saturating_add(1));
            }
            let extras: Vec<Rc<Writer>> = r
                .shards
                .iter()
                .map(|x| {
                    x.shared.skip.set(x.shared.skip.get().saturating_add(1));
                    x.w.clone()
                })
                .collect();
            self.relay_write(&hello).await;
            self.listeners_write(&hello).await;
            for w in extras {
                let _ = w.write(&hello).await;
            }
        }
    }

    /// Closes the relay; what the backend sent before stays queued.
    pub(super) fn close_relay(&mut self) {
        self.relay = None;
    }

    /// Commands that start a relay: SUBSCRIBE family, MONITOR, SYNC/PSYNC.
    pub(super) async fn relay_start(&mut self, req: &Request) {
        let view = self.shard.view();
        let name = req.arg(0).unwrap_or_default();
        let Some(first) = view.backends.first() else {
            return self.reply_static(fixed::CLUSTER_NOT_FOUND);
        };
        let (group, mode) = if eq(Some(name), "monitor") {
            (first.clone(), Mode::Monitor)
        } else if eq(Some(name), "sync") || eq(Some(name), "psync") {
            (first.clone(), Mode::Raw)
        } else if eq(Some(name), "ssubscribe") || eq(Some(name), "sunsubscribe") {
            // Shard channels live with their slot's owner, like keys.
            match self.shard_target(req) {
                ShardTarget::Addr(a) => {
                    if !self.open_relay(&a, Mode::PubSub).await {
                        return;
                    }
                    let peer = !view.backends.iter().any(|g| g.addr() == a);
                    if let (true, Some(pw)) = (peer, self.shard.config.password.clone()) {
                        // why: a peer proxy of the cluster shares its password; the
                        // client already authenticated here. The +OK is not the client's.
                        let mut auth = Vec::with_capacity(32 + pw.len());
                        crate::resp::compose::array_header(&mut auth, 2);
                        crate::resp::compose::bulk(&mut auth, b"AUTH");
                        crate::resp::compose::bulk(&mut auth, pw.as_bytes());
                        if let Some(r) = self.relay.as_ref() {
                            r.skip_replies(1);
                        }
                        self.relay_write(&auth).await;
                    }
                    self.relay_write(&req.frame).await;
                    return;
                }
                other => return self.reply_shard_error(other, req),
            }
        } else {
            // Channels and patterns: every PUBLISH of this proxy goes to its first backend.
            (first.clone(), Mode::PubSub)
        };
        let channels = mode == Mode::PubSub && is_channel_cmd(name);
        if self.open_relay(group.addr(), mode).await {
            if channels {
                self.open_listeners(group.addr(), Mode::Listen).await;
            } else if mode == Mode::Monitor {
                // why: one node's MONITOR shows the commands of all its keyspace.
                self.open_listeners(group.addr(), Mode::MonitorListen).await;
            }
            let subscribe = channels && !is_unsubscribe(name);
            if subscribe {
                self.listeners_sync(&req.frame).await;
            }
            self.relay_write(&req.frame).await;
            if channels && !subscribe {
                self.listeners_write(&req.frame).await;
            }
        }
    }

    /// One request while a relay is open. `Some`: handled here.
    pub(super) async fn in_relay(
        &mut self,
        kind: Option<Kind>,
        req: &Request,
    ) -> Option<Disposition> {
        let relay = self.relay.as_ref()?;
        let name = req.arg(0).unwrap_or_default();
        if matches!(kind, Some(Kind::Proxy(ProxyCmd::Reset))) {
            self.close_relay();
            return None;
        }
        if matches!(kind, Some(Kind::Proxy(ProxyCmd::Quit))) {
            self.close_relay();
            self.reply_static(fixed::OK);
            return Some(Disposition::Close);
        }
        if relay.mode == Mode::Track {
            return self.in_tracking(kind, req).await;
        }
        if relay.mode != Mode::PubSub {
            self.relay_write(&req.frame).await;
            return Some(Disposition::Keep);
        }
        if relay.shared.dead.get() {
            self.close_relay();
            return None;
        }
        let idle = relay.idle;
        if is_pubsub_cmd(name) && !(idle && eq(Some(name), "ping")) {
            let shard_cmd = eq(Some(name), "ssubscribe") || eq(Some(name), "sunsubscribe");
            let target = if shard_cmd {
                self.shard_target(req)
            } else {
                ShardTarget::Addr(relay.addr.clone())
            };
            // why: a channel is unsubscribed where it is subscribed, even if its slot has
            // moved since (the proxy's own SUNSUBSCRIBE after a slot move, or the client's).
            let held = match (eq(Some(name), "sunsubscribe"), req.arg(1), &target) {
                (true, Some(ch), t) if *t != ShardTarget::CrossSlot => relay.holder(ch),
                _ => None,
            };
            if let Some(i) = held {
                self.shard_write(i, &req.frame).await;
                return Some(Disposition::Keep);
            }
            let elsewhere = match &target {
                ShardTarget::Addr(a) => *a != relay.addr,
                _ => true,
            };
            if elsewhere && !idle && !matches!(target, ShardTarget::Addr(_)) {
                // why: the error must come after the replies still due on the relay.
                self.relay_barrier().await;
                self.reply_shard_error(target, req);
                return Some(Disposition::Keep);
            }
            if elsewhere && idle {
                // An idle relay to the wrong backend: a new one is opened.
                self.close_relay();
                return None;
            }
            if let (true, ShardTarget::Addr(a)) = (elsewhere, &target) {
                // Shard channels of another backend: on a connection of their own.
                if let Some(r) = self.relay.as_mut() {
                    r.idle = false;
                }
                if let Some(i) = self.shard_conn(a).await {
                    self.shard_write(i, &req.frame).await;
                }
            } else if shard_cmd && req.len() == 1 {
                // SUNSUBSCRIBE (all): every connection holding shard channels.
                let n = self.relay.as_ref().map_or(0, |r| r.shards.len());
                self.shard_write(0, &req.frame).await;
                for i in 1..=n {
                    let held = self
                        .relay
                        .as_ref()
                        .and_then(|r| r.conn(i))
                        .is_some_and(|(sh, _)| sh.shard_subs.get() > 0);
                    if held {
                        self.shard_write(i, &req.frame).await;
                    }
                }
            } else {
                if let Some(r) = self.relay.as_mut() {
                    r.idle = false;
                }
                let channels = is_channel_cmd(name);
                let addr = self.relay.as_ref().map(|r| r.addr.clone());
                let no_listeners = self.relay.as_ref().is_some_and(|r| r.listeners.is_empty());
                if let (true, true, Some(addr)) = (channels, no_listeners, addr) {
                    self.open_listeners(&addr, Mode::Listen).await;
                }
                let subscribe = channels && !is_unsubscribe(name);
                if subscribe {
                    self.listeners_sync(&req.frame).await;
                }
                self.shard_write(0, &req.frame).await;
                if channels && !subscribe {
                    // why: the main relay first, as the client sent it before anything
                    // its next commands make other clients publish.
                    self.listeners_write(&req.frame).await;
                }
            }
            return Some(Disposition::Keep);
        }
        if idle {
            self.relay_follow_hello(kind, req).await;
            return None;
        }
        self.relay_barrier().await;
        let relay = self.relay.as_mut()?;
        let active = relay.subscribed();
        if !active || relay.shared.dead.get() {
            // why: kept, idle, rather than closed: the backend's id of this connection is
            // what CLIENT TRACKING REDIRECT of other clients points at, as the client's own
            // id would stay the same on Redis.
            relay.idle = true;
            self.relay_follow_hello(kind, req).await;
            return None;
        }
        if self.resp3 {
            // why: a RESP3 client may run any command while subscribed.
            self.relay_follow_hello(kind, req).await;
            return None;
        }
        // RESP2: the backend answers with Redis' own refusal.
        self.shard_write(0, &req.frame).await;
        Some(Disposition::Keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_shard_channels_from_confirmations() {
        let shared = Shared::default();
        track(&shared, b"*3\r\n$10\r\nssubscribe\r\n$2\r\nch\r\n:1\r\n");
        track(&shared, b">3\r\n$10\r\nssubscribe\r\n$3\r\nch2\r\n:2\r\n");
        assert_eq!(shared.shard_subs.get(), 2);
        assert!(shared.shard_channels.borrow().contains(&b"ch2"[..]));
        track(&shared, b"*3\r\n$12\r\nsunsubscribe\r\n$2\r\nch\r\n:1\r\n");
        assert_eq!(shared.shard_subs.get(), 1);
        let set = shared.shard_channels.borrow();
        assert!(!set.contains(&b"ch"[..]) && set.len() == 1);
        assert_eq!(bulk_body(b"$3\r\nabc\r\n"), Some(&b"abc"[..]));
        // A second connection of the same client: its counts become the total.
        let other = Shared {
            shard_total: shared.shard_total.clone(),
            ..Shared::default()
        };
        let f = track(&other, b"*3\r\n$10\r\nssubscribe\r\n$1\r\nz\r\n:1\r\n");
        assert_eq!(
            f.as_deref(),
            Some(&b"*3\r\n$10\r\nssubscribe\r\n$1\r\nz\r\n:2\r\n"[..])
        );
    }
}
