//! One client connection: a reader that parses requests and dispatches each one, and a writer
//! that sends replies back strictly in request order. Both run in one task (`zip`), sharing a
//! FIFO of pending replies.
//!
//! ```text
//!  socket ─► ReadBuf ─► parse ─► dispatch ─┬─► proxy reply (ready now) ─┐
//!                                          └─► backend conn ─► ReplySlot ┴─► Queue ─► writer ─► socket
//! ```

mod admin;
mod backpressure;
mod client;
mod dispatch;
mod info;
mod merge;
mod migrate;
mod multi;
mod node;
mod owned;
mod pause;
mod pubsub;
mod redirect;
mod relay;
mod split;
mod tracking;
mod umctl;
mod wait;

pub(crate) use relay::shard_slots_moved;

use crate::errors::{reply_for, Disposition, ProxyError};
use crate::io::{split, OutBuf, ReadBuf, ReadHalf, WriteHalf};
use crate::metrics;
use crate::resp::request::{self, Request};
use crate::resp::Limits;
use crate::shard::Shard;
use crate::sync::{Notify, ReplySlot};
use bytes::Bytes;
use futures_lite::AsyncWriteExt;
use glommio::net::TcpStream;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Client read chunk. why: 16 KiB holds a deep pipeline of small commands per read; bigger
/// values simply take several reads.
const READ_CHUNK: usize = 16 * 1024;
/// Output bytes gathered before a write. why: one write per batch of ready replies.
const WRITE_BATCH: usize = 64 * 1024;

/// Rewrites a backend reply into the client's reply.
pub type Rewrite = Box<dyn FnOnce(&[u8]) -> Bytes>;

/// Combines several backend replies into the client's reply.
pub type Combiner = Box<dyn FnOnce(&[&[u8]]) -> Bytes>;

/// A reply the writer will send, in request order.
pub enum Pending {
    /// Already known.
    Ready(Bytes),
    /// Filled by a backend.
    Wait(Rc<ReplySlot>),
    /// A backend reply rewritten before sending (a filtered `COMMAND`, a `SCAN` cursor).
    Transform(Rc<ReplySlot>, Rewrite),
    /// The parts of a split multi-key command, merged when all are in.
    Merge(Box<split::Merge>),
    /// Several backend replies combined by a function once all are in (INFO).
    Combine(Vec<Rc<ReplySlot>>, Combiner),
    /// What a relay's backend sent (Pub/Sub messages, MONITOR lines): never silenced by
    /// `CLIENT REPLY`, as Redis does not silence them.
    Push(Bytes),
    /// `CLIENT REPLY ON|OFF|SKIP` from here on.
    ReplyMode(client::ReplyMode),
    /// A sampled request's reply was just gathered: log it if it was slow.
    Slow(Box<SlowMark>),
    /// Close the connection after everything before it is written.
    Close,
    /// Exit the process after everything before it is written (UMCTL SHUTDOWN).
    Exit,
}

/// What the writer needs to log a sampled request.
pub struct SlowMark {
    start: std::time::Instant,
    args: Vec<Vec<u8>>,
    session: u64,
    name: Vec<u8>,
}

#[derive(Default)]
struct Queue {
    items: RefCell<VecDeque<Pending>>,
    wake_writer: Notify,
    space: Notify,
    /// Like `space`, for a relay's pump task (a second waiter needs its own wake-up).
    relay_space: Notify,
    closed: Cell<bool>,
    bp: backpressure::State,
}

impl Queue {
    fn push(&self, p: Pending) {
        self.items.borrow_mut().push_back(p);
        self.wake_writer.notify();
    }
}

/// Per-connection state the dispatcher needs.
pub struct Session {
    shard: Rc<Shard>,
    id: u64,
    authed: bool,
    /// UMCTL allowed: no `control_password`, or the connection sent it with AUTH.
    control_authed: bool,
    queue: Rc<Queue>,
    /// `HELLO 3` was accepted: backend replies come from RESP3 connections.
    resp3: bool,
    /// `CLIENT SETNAME`.
    name: Option<Bytes>,
    /// The backend connection this session owns, if any.
    owned: Option<owned::Owned>,
    /// Which kind of connection the last forwarded command used.
    lane: owned::Lane,
    /// Open transaction.
    multi: Option<multi::Multi>,
    /// Slot of the WATCHed keys (the watch lives on the owned connection).
    watch: Option<u16>,
    /// While serving `UMFORWARD n`: the `n` (hops still allowed).
    hops_left: Option<u64>,
    /// Pub/Sub, MONITOR or SYNC connection of this session ([`relay`]).
    relay: Option<relay::Relay>,
    /// Client's and proxy's socket addresses and when the session started (CLIENT INFO).
    peer: client::Peer,
}

/// Serves one client connection until it closes.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    if let Some(s) = shard.stats() {
        metrics::bump(&s.connections_total, 1);
        metrics::bump(&s.connections_open, 1);
    }
    let timeout = shard.config.session_timeout;
    let peer = client::Peer::of(&stream);
    let (r, w) = split(stream);
    if timeout > 0 {
        let _ = r.set_read_timeout(Some(Duration::from_millis(timeout)));
    }
    let queue = Rc::new(Queue::default());
    let mut session = Session {
        id: shard.next_session_id(),
        authed: shard.config.password.is_none(),
        control_authed: shard.config.control_password.is_none(),
        queue: queue.clone(),
        shard: shard.clone(),
        resp3: false,
        name: None,
        owned: None,
        lane: owned::Lane::None,
        multi: None,
        watch: None,
        hops_left: None,
        relay: None,
        peer,
    };
    futures_lite::future::zip(session.read_loop(r), write_loop(queue, w, shard.clone())).await;
    session.abandon_owned();
    if let Some(s) = shard.stats() {
        metrics::drop_one(&s.connections_open);
    }
}

impl Session {
    async fn read_loop(&mut self, mut r: ReadHalf) {
        let mut buf = ReadBuf::new(READ_CHUNK);
        loop {
            loop {
                match request::parse(buf.data(), &Limits::REQUEST) {
                    Ok(Some(parsed)) => {
                        let frame = buf.take(parsed.len);
                        let req = Request::new(frame, parsed);
                        if req.is_empty() {
                            continue;
                        }
                        if let Some(s) = self.shard.stats() {
                            metrics::bump(&s.commands, 1);
                        }
                        let mark = self.shard.sample_slow().then(|| SlowMark {
                            start: std::time::Instant::now(),
                            args: crate::slowlog::cut_args(req.args(), req.len()),
                            session: self.client_id(),
                            name: self.name.as_deref().unwrap_or_default().to_vec(),
                        });
                        let disposition = self.dispatch(req).await;
                        if let Some(m) = mark {
                            self.queue.push(Pending::Slow(Box::new(m)));
                        }
                        if disposition == Disposition::Close {
                            self.queue.push(Pending::Close);
                            return;
                        }
                        if !self.wait_for_room().await {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return self.fail(ProxyError::Client(e)),
                }
            }
            if self.query_buffer_over(buf.data().len()) {
                return self.fail(ProxyError::RequestTooBig);
            }
            if !self.wait_for_room().await {
                return;
            }
            match buf.read_lazy_from(&mut r).await {
                Ok(0) => {
                    // why: the client is gone; a command blocked on the owned connection
                    // must not keep it (and this session) alive.
                    self.abandon_owned();
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    if self.queue.items.borrow().is_empty() {
                        break;
                    }
                }
                Err(_) => {
                    self.abandon_owned();
                    break;
                }
            }
        }
        self.queue.push(Pending::Close);
    }

    fn fail(&self, e: ProxyError) {
        let (reply, _) = reply_for(&e);
        self.queue.push(Pending::Ready(reply));
        self.queue.push(Pending::Close);
    }

    fn reply(&self, bytes: Bytes) {
        self.queue.push(Pending::Ready(bytes));
    }

    fn reply_static(&self, bytes: &'static [u8]) {
        self.queue.push(Pending::Ready(Bytes::from_static(bytes)));
    }
}

/// A reply on its way out, counted by the metrics if it is an error.
#[inline]
/// Whether argument `a` is `b`, ignoring ASCII case (sub-command and option names).
fn eq(a: Option<&[u8]>, b: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(b.as_bytes()))
}

fn counted(reply: Bytes) -> Bytes {
    metrics::note_reply(&reply);
    reply
}

/// Sends replies in order; a batch of ready replies goes out in one write.
async fn write_loop(queue: Rc<Queue>, mut w: WriteHalf, shard: Rc<Shard>) {
    let mut out = OutBuf::default();
    let mut gate = client::ReplyGate::default();
    let ok = loop {
        // Gather every reply that is ready now, in order.
        let mut end = None;
        loop {
            let next = {
                let mut items = queue.items.borrow_mut();
                let ready = match items.front() {
                    None => false,
                    Some(Pending::Wait(s) | Pending::Transform(s, _)) => s.is_filled(),
                    Some(Pending::Merge(m)) => m.parts.iter().all(|s| s.is_filled()),
                    Some(Pending::Combine(parts, _)) => parts.iter().all(|s| s.is_filled()),
                    Some(_) => true,
                };
                if ready && out.len() < WRITE_BATCH {
                    items.pop_front()
                } else {
                    None
                }
            };
            let Some(p) = next else { break };
            queue.space.notify();
            queue.relay_space.notify();
            let mut emit = |b: Bytes| {
                let b = counted(b);
                if gate.pass(&b) {
                    out.push(b)
                }
            };
            match p {
                Pending::Ready(b) => emit(b),
                Pending::Push(b) => out.push(b),
                Pending::Wait(s) => emit(s.wait().await),
                Pending::Transform(s, f) => emit(f(&s.wait().await)),
                Pending::ReplyMode(m) => gate.set(m),
                Pending::Merge(m) => {
                    let mut replies = Vec::with_capacity(m.parts.len());
                    for s in &m.parts {
                        replies.push(s.wait().await);
                    }
                    let parts: Vec<&[u8]> = replies.iter().map(|r| &r[..]).collect();
                    let merged = merge::merge(m.kind, &parts, &m.pos, m.total);
                    if m.decode {
                        emit(crate::compress::decode_reply(&merged));
                    } else {
                        emit(merged);
                    }
                }
                Pending::Combine(parts, f) => {
                    let mut replies = Vec::with_capacity(parts.len());
                    for s in &parts {
                        replies.push(s.wait().await);
                    }
                    let parts: Vec<&[u8]> = replies.iter().map(|r| &r[..]).collect();
                    emit(f(&parts));
                }
                Pending::Slow(m) => {
                    let took = m.start.elapsed();
                    let ctl = &shard.control;
                    let limit = ctl.slowlog_log_slower_than.load(Ordering::Relaxed);
                    if limit >= 0 && took.as_micros() >= limit as u128 {
                        let cap = shard.config.slowlog_len as usize;
                        ctl.slowlog.record(took, m.args, m.session, m.name, cap);
                    }
                }
                Pending::Close => {
                    end = Some(false);
                    break;
                }
                Pending::Exit => {
                    end = Some(true);
                    break;
                }
            }
        }
        if !out.is_empty() && out.write_to(&mut w).await.is_err() {
            break false;
        }
        match end {
            Some(true) => {
                let _ = w.flush().await;
                log::info!("UMCTL SHUTDOWN: exiting");
                std::process::exit(0);
            }
            Some(false) => break true,
            None => {}
        }
        // Wait for the head of the queue: a new item, or the backend reply it waits for.
        let head = queue.items.borrow().front().and_then(|p| match p {
            Pending::Wait(s) | Pending::Transform(s, _) => Some(s.clone()),
            Pending::Merge(m) => m.parts.iter().find(|s| !s.is_filled()).cloned(),
            Pending::Combine(parts, _) => parts.iter().find(|s| !s.is_filled()).cloned(),
            _ => None,
        });
        match head {
            Some(slot) => {
                slot.filled().await;
            }
            None if queue.items.borrow().is_empty() => queue.wake_writer.notified().await,
            None => {}
        }
    };
    let _ = ok;
    queue.closed.set(true);
    queue.space.notify();
    queue.relay_space.notify();
    let _ = w.close().await;
}
