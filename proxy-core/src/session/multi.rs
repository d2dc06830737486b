//! Transactions: `MULTI`/`EXEC`/`DISCARD` and `WATCH`/`UNWATCH`, pinned to the session's
//! owned backend connection ([`super::owned`]) of the one slot the transaction touches.
//!
//! `MULTI` is answered by the proxy; commands without keys are queued here (`+QUEUED`) until
//! the first keyed command picks the backend, which then gets `MULTI`, the queued commands and
//! everything after it. A key in another slot, or any error the proxy makes, is answered and
//! marks the transaction so `EXEC` aborts it with `-EXECABORT`, as Redis Cluster does.

use super::owned::Lane;
use super::Session;
use crate::command::{Kind, ProxyCmd};
use crate::errors::fixed;
use crate::resp::request::Request;
use crate::route::{route, Route};
use bytes::Bytes;

const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
const DISCARD: &[u8] = b"*1\r\n$7\r\nDISCARD\r\n";
const EXEC: &[u8] = b"*1\r\n$4\r\nEXEC\r\n";
const EXECABORT: &[u8] = b"-EXECABORT Transaction discarded because of previous errors.\r\n";
const QUEUED: &[u8] = b"+QUEUED\r\n";
const WATCH_KEYS: crate::command::Keys = crate::command::Keys::Range {
    first: 1,
    last: -1,
    step: 1,
};

/// An open transaction.
#[derive(Debug, Default)]
pub struct Multi {
    /// Slot the transaction is pinned to, once known.
    slot: Option<u16>,
    /// `MULTI` was sent to the owned connection.
    started: bool,
    /// A command was refused: EXEC aborts.
    dirty: bool,
    /// Keyless commands waiting for the backend to be known.
    buffered: Vec<Bytes>,
}

impl Session {
    /// `MULTI`.
    pub(super) async fn multi(&mut self) {
        if self.multi.is_some() {
            return self.error("ERR MULTI calls can not be nested");
        }
        let mut m = Multi {
            slot: self.watch,
            ..Multi::default()
        };
        if self.watch.is_some() {
            if let Some(o) = self.owned.as_ref().map(|o| o.conn.clone()) {
                m.started = true;
                self.multi = Some(m);
                return self
                    .forward(&o, Lane::Owned, Bytes::from_static(MULTI))
                    .await;
            }
        }
        self.multi = Some(m);
        self.reply_static(fixed::OK);
    }

    /// One command while a transaction is open.
    pub(super) async fn in_multi(&mut self, kind: Option<Kind>, req: &Request) {
        match kind {
            Some(Kind::Proxy(ProxyCmd::Exec)) => return self.exec().await,
            Some(Kind::Proxy(ProxyCmd::Discard)) => return self.discard().await,
            Some(Kind::Proxy(ProxyCmd::Multi)) => {
                return self.error("ERR MULTI calls can not be nested")
            }
            Some(Kind::Proxy(ProxyCmd::Watch)) => {
                return self.error("ERR WATCH inside MULTI is not allowed")
            }
            Some(Kind::Proxy(
                ProxyCmd::Ping | ProxyCmd::Echo | ProxyCmd::Node | ProxyCmd::Config,
            )) => {
                // why: queued on the backend the transaction is pinned to, which answers for
                // its own keyspace, as a Redis Cluster node does inside MULTI.
                return self.queue_keyless(req).await;
            }
            Some(Kind::Proxy(ProxyCmd::Client)) if super::pause::is_pause_cmd(req) => {
                // why: queued like the node commands above; the pause starts at EXEC, on
                // the backend the transaction runs on, as on a Redis Cluster node.
                super::pause::note(&self.shard.control, req);
                return self.queue_keyless(req).await;
            }
            Some(Kind::Data(keys) | Kind::Blocking(keys)) => {
                if !self.migration_gate(req, keys, false).await {
                    if let Some(m) = self.multi.as_mut() {
                        m.dirty = true;
                    }
                    return;
                }
                let view = self.shard.view();
                match route(&view.snap, req, keys) {
                    Route::Local { slot, backend } => {
                        let pinned = self.multi.as_ref().and_then(|m| m.slot);
                        if pinned.is_some_and(|p| p != slot) {
                            self.reply_static(fixed::MULTI_SLOTS);
                        } else if let Some(g) = view.backends.get(usize::from(backend)) {
                            let conn = self.start_multi(g, slot).await;
                            return self.forward(&conn, Lane::Owned, req.wire_bytes()).await;
                        } else {
                            self.error("ERR internal: backend missing");
                        }
                    }
                    Route::NoKey(crate::command::KeyError::NoKeys) => {
                        return self.queue_keyless(req).await
                    }
                    other => self.reply_route_error(other, req),
                }
            }
            Some(Kind::Refused(_)) | None => {
                // why: the same reply as outside a transaction.
                let _ = Box::pin(self.dispatch_plain(kind, req)).await;
            }
            Some(Kind::Proxy(_)) => {
                self.error("ERR command not allowed inside a transaction by the proxy")
            }
        }
        if let Some(m) = self.multi.as_mut() {
            m.dirty = true;
        }
    }

    /// Opens the owned connection for the transaction and sends MULTI and the queued commands.
    async fn start_multi(
        &mut self,
        group: &crate::backend::BackendGroup,
        slot: u16,
    ) -> std::rc::Rc<crate::backend::conn::BackendConn> {
        let conn = self.own(group).await;
        let Some(m) = self.multi.as_mut() else {
            return conn;
        };
        m.slot = Some(slot);
        if m.started {
            return conn;
        }
        m.started = true;
        let buffered = std::mem::take(&mut m.buffered);
        // why: the client already got +OK and +QUEUED from the proxy for these.
        let _ = self
            .send_on(&conn, Lane::Owned, Bytes::from_static(MULTI))
            .await;
        for b in buffered {
            let _ = self.send_on(&conn, Lane::Owned, b).await;
        }
        conn
    }

    async fn queue_keyless(&mut self, req: &Request) {
        let started = self.multi.as_ref().is_some_and(|m| m.started);
        match self.owned.as_ref().map(|o| o.conn.clone()) {
            Some(conn) if started => self.forward(&conn, Lane::Owned, req.wire_bytes()).await,
            _ => {
                if let Some(m) = self.multi.as_mut() {
                    // why: a copy, so a transaction held open does not pin the core's
                    // shared read arena the frame was read into.
                    m.buffered
                        .push(bytes::Bytes::copy_from_slice(&req.wire_bytes()));
                }
                self.reply_static(QUEUED);
            }
        }
    }

    async fn exec(&mut self) {
        let Some(m) = self.multi.take() else {
            return self.error("ERR EXEC without MULTI");
        };
        self.watch = None;
        let owned = self.owned.as_ref().map(|o| o.conn.clone());
        let moving = m.slot.is_some_and(|s| !self.migration_allows_exec(s));
        if m.dirty || moving {
            if let (true, Some(conn)) = (m.started, owned) {
                let _ = self
                    .send_on(&conn, Lane::Owned, Bytes::from_static(DISCARD))
                    .await;
            }
            return self.reply_static(EXECABORT);
        }
        let decode = self.shard.view().snap.config.compression_strategy
            != control::model::CompressionStrategy::Disabled;
        if let (true, Some(conn)) = (m.started, owned) {
            let slot = self
                .send_on(&conn, Lane::Owned, Bytes::from_static(EXEC))
                .await;
            return self.push_reply(slot, decode);
        }
        if m.buffered.is_empty() {
            return self.reply_static(b"*0\r\n");
        }
        // Only keyless commands: any local backend can run them.
        let view = self.shard.view();
        let Some(g) = view.backends.first() else {
            return self.reply_static(fixed::CLUSTER_NOT_FOUND);
        };
        self.multi = Some(m);
        let conn = self.start_multi(g, 0).await;
        self.multi = None;
        self.forward(&conn, Lane::Owned, Bytes::from_static(EXEC))
            .await
    }

    async fn discard(&mut self) {
        let Some(m) = self.multi.take() else {
            return self.error("ERR DISCARD without MULTI");
        };
        self.watch = None;
        match self.owned.as_ref().map(|o| o.conn.clone()) {
            Some(conn) if m.started => {
                self.forward(&conn, Lane::Owned, Bytes::from_static(DISCARD))
                    .await
            }
            _ => self.reply_static(fixed::OK),
        }
    }

    /// `WATCH key...` (outside a transaction): all keys in one slot, on the owned connection.
    pub(super) async fn watch_cmd(&mut self, req: &Request) {
        let view = self.shard.view();
        match route(&view.snap, req, WATCH_KEYS) {
            Route::Local { slot, backend } => {
                if self.watch.is_some_and(|w| w != slot) {
                    return self.reply_static(fixed::MULTI_SLOTS);
                }
                let Some(g) = view.backends.get(usize::from(backend)) else {
                    return self.error("ERR internal: backend missing");
                };
                let conn = self.own(g).await;
                self.watch = Some(slot);
                self.forward(&conn, Lane::Owned, req.wire_bytes()).await
            }
            other => self.reply_route_error(other, req),
        }
    }

    /// `UNWATCH`.
    pub(super) async fn unwatch(&mut self, req: &Request) {
        let conn = self.owned.as_ref().map(|o| o.conn.clone());
        match (self.watch.take(), conn) {
            (Some(_), Some(conn)) => self.forward(&conn, Lane::Owned, req.wire_bytes()).await,
            _ => self.reply_static(fixed::OK),
        }
    }
}
