//! Backend Redis connections of one core: per address a group of `backend_conn_num`
//! pipelined connections ([`conn`]) per protocol (RESP2, and RESP3 opened on first use). A
//! session always uses the same member of a group (its id modulo the group size), so its
//! commands reach Redis in the order it sent them. Sessions that need connection state get a
//! dedicated connection of their own ([`BackendGroup::dedicated`]).

pub mod conn;

use conn::{BackendConn, ConnOpts};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// The connections of one core to one backend address.
pub struct BackendGroup {
    addr: String,
    timeout: Duration,
    size: usize,
    conns: Vec<Rc<BackendConn>>,
    /// RESP3 connections. why: lazily, so RESP2-only deployments open no extra connections.
    conns3: RefCell<Vec<Rc<BackendConn>>>,
    /// One connected, never used dedicated connection per protocol (index 0: RESP2, 1:
    /// RESP3), handed out by [`BackendGroup::dedicated`] and replaced at once. why: a
    /// blocking command or a transaction then starts on an open socket, so it reaches Redis
    /// before a command another client sends right after it over a shared connection, as it
    /// would on a direct connection; a connect per command would let the later one overtake.
    spare: RefCell<[Option<Rc<BackendConn>>; 2]>,
}

impl BackendGroup {
    /// Opens (lazily, in background tasks) `n` connections to `addr`.
    pub fn new(addr: &str, n: usize, timeout: Duration) -> Rc<Self> {
        let size = n.max(1);
        let conns = (0..size)
            .map(|_| BackendConn::start(addr.to_string(), timeout, ConnOpts::default()))
            .collect();
        Rc::new(Self {
            addr: addr.to_string(),
            timeout,
            size,
            conns,
            conns3: RefCell::new(Vec::new()),
            spare: RefCell::new([None, None]),
        })
    }

    /// The backend address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The shared connection used by session `session_id` for protocol 2 or 3.
    pub fn for_session(&self, session_id: u64, resp3: bool) -> Option<Rc<BackendConn>> {
        let i = (session_id % self.size as u64) as usize;
        if !resp3 {
            return self.conns.get(i).cloned();
        }
        let mut c3 = self.conns3.borrow_mut();
        if c3.is_empty() {
            let opts = ConnOpts {
                resp3: true,
                dedicated: false,
            };
            c3.extend(
                (0..self.size).map(|_| BackendConn::start(self.addr.clone(), self.timeout, opts)),
            );
        }
        c3.get(i).cloned()
    }

    /// A new connection owned by one session, closed by it when its state ends.
    pub fn dedicated(&self, resp3: bool) -> Rc<BackendConn> {
        let opts = ConnOpts {
            resp3,
            dedicated: true,
        };
        let fresh = BackendConn::start(self.addr.clone(), self.timeout, opts);
        let mut spare = self.spare.borrow_mut();
        let Some(slot) = spare.get_mut(usize::from(resp3)) else {
            return fresh;
        };
        match slot.replace(fresh.clone()) {
            // why: a spare that broke (backend restarted) is dropped, not handed out.
            Some(s) if !s.is_closed() => s,
            Some(s) => {
                s.close();
                slot.replace(BackendConn::start(self.addr.clone(), self.timeout, opts));
                fresh
            }
            None => {
                slot.replace(BackendConn::start(self.addr.clone(), self.timeout, opts));
                fresh
            }
        }
    }

    /// Every shared connection opened so far (RESP2 and RESP3), for a drain barrier.
    pub fn shared_conns(&self) -> Vec<Rc<BackendConn>> {
        self.conns
            .iter()
            .chain(self.conns3.borrow().iter())
            .cloned()
            .collect()
    }

    /// Stops every shared connection; waiting requests get an error reply.
    pub fn close(&self) {
        for c in self.conns.iter().chain(self.conns3.borrow().iter()) {
            c.close();
        }
        for s in self.spare.borrow_mut().iter_mut() {
            if let Some(c) = s.take() {
                c.close();
            }
        }
    }
}
