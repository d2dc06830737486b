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

/// A pipelined backend connection.
pub struct BackendConn {
    addr: String,
    timeout: Duration,
    state: Cell<State>,
    out: RefCell<OutBuf>,
    waiting: RefCell<VecDeque<Rc<ReplySlot>>>,
    wake_writer: Notify,
    last_progress: Cell<Instant>,
}

impl BackendConn {
    /// Creates the connection and spawns its task on the current core.
    pub fn start(addr: String, timeout: Duration) -> Rc<Self> {
        let conn = Rc::new(Self {
            addr,
            timeout,
            state: Cell::new(State::Connecting),
            out: RefCell::new(OutBuf::default()),
            waiting: RefCell::new(VecDeque::new()),
            wake_writer: Notify::default(),
            last_progress: Cell::new(Instant::now()),
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
                self.out.borrow_mut().push(req);
                self.wake_writer.notify();
            }
        }
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
        for s in drained {
            s.fill(reply.clone());
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
        conn.state.set(State::Up);
        let (r, w) = split(stream);
        let _ = r.set_read_timeout(Some(conn.timeout.max(Duration::from_millis(10))));
        let err = futures_lite::future::or(reader(&conn, r), writer(&conn, w)).await;
        if conn.state.get() == State::Closed {
            return;
        }
        log::warn!("backend {}: connection lost: {err:?}", conn.addr);
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
                let stalled = !conn.waiting.borrow().is_empty()
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
                    let Some(slot) = conn.waiting.borrow_mut().pop_front() else {
                        // A reply nobody asked for: the stream is out of step; start over.
                        return BackendError::Broken;
                    };
                    replied = true;
                    slot.fill(frame);
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
