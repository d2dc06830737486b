//! Backend Redis connections of one core: per address a group of `backend_conn_num`
//! pipelined connections ([`conn`]). A session always uses the same member of a group
//! (its id modulo the group size), so its commands reach Redis in the order it sent them.

pub mod conn;

use conn::BackendConn;
use std::rc::Rc;
use std::time::Duration;

/// The connections of one core to one backend address.
pub struct BackendGroup {
    conns: Vec<Rc<BackendConn>>,
}

impl BackendGroup {
    /// Opens (lazily, in background tasks) `n` connections to `addr`.
    pub fn new(addr: &str, n: usize, timeout: Duration) -> Rc<Self> {
        let conns = (0..n.max(1))
            .map(|_| BackendConn::start(addr.to_string(), timeout))
            .collect();
        Rc::new(Self { conns })
    }

    /// The connection used by session `session_id`.
    pub fn for_session(&self, session_id: u64) -> Option<&Rc<BackendConn>> {
        let n = self.conns.len() as u64;
        self.conns.get((session_id % n.max(1)) as usize)
    }

    /// Stops every connection; waiting requests get an error reply.
    pub fn close(&self) {
        for c in &self.conns {
            c.close();
        }
    }
}
