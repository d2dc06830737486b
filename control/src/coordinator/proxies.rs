//! Blocking RESP calls to proxies with `proxy_timeout` on connect, write and read, over a small
//! pool of idle connections per proxy, so a steady round costs one `UMCTL GETEPOCH` on an open
//! connection per proxy.

use crate::client::resp::{Conn, Value};
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Idle connections kept per proxy. why: the original pools 2; the loops rarely call one
/// proxy from more than two threads at once.
const IDLE_PER_PROXY: usize = 2;

/// Pooled proxy connections; cheap to clone and share between threads.
#[derive(Clone)]
pub struct Proxies {
    idle: Arc<Mutex<HashMap<String, Vec<Conn>>>>,
    /// Connect and command timeout.
    pub timeout: Duration,
    /// Sent as `AUTH` on every new connection: the proxies' `control_password`.
    password: Option<Arc<str>>,
}

impl Proxies {
    /// An empty pool; `password` (the proxies' `control_password`) authenticates new connections.
    pub fn new(timeout: Duration, password: Option<&str>) -> Self {
        Self {
            idle: Arc::new(Mutex::new(HashMap::new())),
            timeout,
            password: password.map(Arc::from),
        }
    }

    /// Sends one command to `addr` and reads the reply (an error reply is `Ok`).
    ///
    /// # Errors
    /// Connect/IO failure or timeout; the connection is then dropped, not pooled.
    pub fn call<A: AsRef<[u8]>>(&self, addr: &str, args: &[A]) -> io::Result<Value> {
        let pooled = self
            .idle
            .lock()
            .ok()
            .and_then(|mut m| m.get_mut(addr).and_then(Vec::pop));
        let mut conn = match pooled {
            Some(c) => c,
            None => Conn::connect_auth(addr, self.timeout, self.password.as_deref())?,
        };
        let reply = conn.call(args)?;
        if let Ok(mut m) = self.idle.lock() {
            let list = m.entry(addr.to_string()).or_default();
            if list.len() < IDLE_PER_PROXY {
                list.push(conn);
            }
        }
        Ok(reply)
    }

    /// Drops the idle connections to `addr` (after `-ERR_NOT_MY_META`, or a failure).
    pub fn forget(&self, addr: &str) {
        if let Ok(mut m) = self.idle.lock() {
            m.remove(addr);
        }
    }
}
