//! One pipelined connection to a backend Redis, owned by one core.
//!
//! Requests of every session on the core that use this connection are appended to one output
//! buffer and written with one write per loop turn; replies are matched to requests in FIFO
//! order and handed over as the backend's own bytes. A background task connects, runs the
//! reader and writer, and reconnects with back-off; whatever breaks, every affected request
//! gets an error reply (never another request's reply) and nothing else is touched.

use crate::errors::{reply_for, BackendError, ProxyError};
use crate::io::{split, OutBuf, ReadBuf, ReadHalf, WriteHalf};
use crate::resp::{reply, Limits};
use crate::sync::{Notify, ReplySlot};
use futures_lite::AsyncWriteExt;
use glommio::net::TcpStream;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Read chunk. why: backend replies arrive in bursts for many sessions; 64 KiB per read keeps
/// syscalls few without holding much memory per connection.
const READ_CHUNK: usize = 64 * 1024;
/// First reconnect delay; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Longest reconnect delay. why: the original waits 1 s; a restarted Redis is back quickly.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting,
    Up,
    /// In back-off after a failed connect: new requests fail at once.
    Failed,
    Closed,
}

/// `HELLO 3`, sent first on every RESP3 connection. Its reply is dropped.
const HELLO3: &[u8] = b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";

/// How a connection is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnOpts {
    /// Switch the connection to RESP3 (`HELLO 3`) before any request.
    pub resp3: bool,
    /// Owned by one session (MULTI, WATCH, blocking): never reconnected, because the state
    /// it held is gone, and never timed out, because a blocking command may wait for ever.
    pub dedicated: bool,
}

/// A pipelined backend connection.
pub struct BackendConn {
    addr: String,
    timeout: Duration,
    opts: ConnOpts,
    /// Replies still to drop (the `HELLO 3` reply).
    skip: Cell<u8>,
    state: Cell<State>,
    out: RefCell<OutBuf>,
    waiting: RefCell<VecDeque<Rc<ReplySlot>>>,
    wake_writer: Notify,
    last_progress: Cell<Instant>,
    /// Requests queued and replies matched since start, and the sampled request in flight
    /// (its sequence number and send time) for the latency histogram.
    sent: Cell<u64>,
    replied: Cell<u64>,
    probe: Cell<Option<(u64, Instant)>>,
}

/// One request in this many is timed for the backend latency histogram. why: a clock read
/// per request showed up in profiles; a sample is enough for a distribution.
const LATENCY_SAMPLE: u64 = 16;

impl BackendConn {
    /// Creates the connection and spawns its task on the current core.
    pub fn start(addr: String, timeout: Duration, opts: ConnOpts) -> Rc<Self> {
        let conn = Rc::new(Self {
            addr,
            timeout,
            opts,
            skip: Cell::new(0),
            state: Cell::new(State::Connecting),
            out: RefCell::new(OutBuf::default()),
            waiting: RefCell::new(VecDeque::new()),
            wake_writer: Notify::default(),
            last_progress: Cell::new(Instant::now()),
            sent: Cell::new(0),
            replied: Cell::new(0),
            probe: Cell::new(None),
        });
        glommio::spawn_local(run(conn.clone())).detach();
        conn
    }

    /// Queues `req`; its reply (or an error reply) will be put in `slot`.
    pub fn send(&self, req: bytes::Bytes, slot: Rc<ReplySlot>) {
        match self.state.get() {
            State::Failed => {
                let e = ProxyError::Backend(BackendError::Unavailable(self.addr.clone()));
                slot.fill(reply_for(&e).0);
            }
            State::Closed => slot.fill(reply_for(&ProxyError::Backend(BackendError::Removed)).0),
            State::Connecting | State::Up => {
                let mut waiting = self.waiting.borrow_mut();
                if waiting.is_empty() {
                    self.last_progress.set(Instant::now());
                }
                waiting.push_back(slot);
                let seq = self.sent.get();
                self.sent.set(seq.wrapping_add(1));
                if seq.is_multiple_of(LATENCY_SAMPLE) && self.probe.get().is_none() {
                    self.probe.set(Some((seq, Instant::now())));
                }
                self.out.borrow_mut().push(req);
                self.wake_writer.notify();
            }
        }
    }

    /// True once the connection is gone for good (closed, or a dedicated one that broke).
    pub fn is_closed(&self) -> bool {
        self.state.get() == State::Closed
    }

    /// Stops the connection for good.
    pub fn close(&self) {
        self.state.set(State::Closed);
        self.fail_all(BackendError::Removed);
        self.wake_writer.notify();
    }

    fn fail_all(&self, e: BackendError) {
        let reply = reply_for(&ProxyError::Backend(e)).0;
        let drained: Vec<_> = self.waiting.borrow_mut().drain(..).collect();
        self.out.borrow_mut().clear();
        self.replied.set(self.sent.get());
        self.probe.set(None);
        for s in drained {
            s.fill(reply.clone());
        }
    }
}

impl BackendConn {
    /// One more reply matched: ends the latency probe when it was the sampled request.
    fn note_replied(&self) {
        let n = self.replied.get();
        self.replied.set(n.wrapping_add(1));
        if let Some((seq, at)) = self.probe.get() {
            if seq == n {
                self.probe.set(None);
                crate::metrics::note_backend_latency(at.elapsed());
            }
        }
    }
}

async fn run(conn: Rc<BackendConn>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        if conn.state.get() == State::Closed {
            return;
        }
        conn.state.set(State::Connecting);
        let connect_timeout = conn.timeout.max(Duration::from_millis(100));
        let stream = match TcpStream::connect_timeout(conn.addr.as_str(), connect_timeout).await {
            Ok(s) => s,
            Err(e) => {
                log::warn!("backend {}: connect failed: {e}", conn.addr);
                if conn.state.get() == State::Closed {
                    return;
                }
                if conn.opts.dedicated {
                    conn.state.set(State::Closed);
                    conn.fail_all(BackendError::ConnectFailed(conn.addr.clone()));
                    return;
                }
                conn.state.set(State::Failed);
                conn.fail_all(BackendError::ConnectFailed(conn.addr.clone()));
                glommio::timer::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = MIN_BACKOFF;
        let _ = stream.set_nodelay(true);
        if conn.state.get() == State::Closed {
            return;
        }
        let (r, mut w) = split(stream);
        if conn.opts.resp3 {
            // why: written before the writer task starts, so it precedes every request.
            if w.write_all(HELLO3).await.is_err() {
                conn.fail_all(BackendError::Broken);
                if conn.opts.dedicated {
                    conn.state.set(State::Closed);
                    return;
                }
                continue;
            }
            conn.skip.set(1);
        }
        conn.state.set(State::Up);
        let _ = r.set_read_timeout(Some(conn.timeout.max(Duration::from_millis(10))));
        let err = futures_lite::future::or(reader(&conn, r), writer(&conn, w)).await;
        if conn.state.get() == State::Closed {
            return;
        }
        log::warn!("backend {}: connection lost: {err:?}", conn.addr);
        if conn.opts.dedicated {
            conn.state.set(State::Closed);
            conn.fail_all(err);
            return;
        }
        conn.fail_all(err);
    }
}

async fn writer(conn: &BackendConn, mut w: WriteHalf) -> BackendError {
    let mut spare = OutBuf::default();
    loop {
        if conn.state.get() == State::Closed {
            return BackendError::Removed;
        }
        if conn.out.borrow().is_empty() {
            conn.wake_writer.notified().await;
            continue;
        }
        // why: go to the back of the run queue once, so the other sessions woken in this
        // turn (their reads already complete) queue their requests too and all share one write.
        futures_lite::future::yield_now().await;
        // Take everything queued this turn and write it at once; new requests fill `spare`.
        std::mem::swap(&mut *conn.out.borrow_mut(), &mut spare);
        if spare.write_to(&mut w).await.is_err() {
            return BackendError::Broken;
        }
    }
}

async fn reader(conn: &BackendConn, mut r: ReadHalf) -> BackendError {
    let mut buf = ReadBuf::new(READ_CHUNK);
    loop {
        match buf.read_from(&mut r).await {
            Ok(0) => return BackendError::Broken,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                let stalled = !conn.opts.dedicated
                    && !conn.waiting.borrow().is_empty()
                    && conn.last_progress.get().elapsed() >= conn.timeout;
                if stalled {
                    return BackendError::Timeout;
                }
                continue;
            }
            Err(_) => return BackendError::Broken,
        }
        let mut replied = false;
        loop {
            match reply::scan(buf.data(), &Limits::REPLY) {
                Ok(Some(len)) => {
                    let frame = buf.take(len);
                    if conn.skip.get() > 0 {
                        conn.skip.set(conn.skip.get() - 1);
                        if frame.first() == Some(&b'-') {
                            log::warn!("backend {}: HELLO 3 refused", conn.addr);
                        }
                        continue;
                    }
                    let Some(slot) = conn.waiting.borrow_mut().pop_front() else {
                        // A reply nobody asked for: the stream is out of step; start over.
                        return BackendError::Broken;
                    };
                    replied = true;
                    slot.fill(frame);
                    conn.note_replied();
                }
                Ok(None) => break,
                Err(_) => return BackendError::Broken,
            }
        }
        if replied {
            // why: once per read, not per reply: clock reads showed up in profiles.
            conn.last_progress.set(Instant::now());
        }
    }
}
