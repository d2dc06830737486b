//! The backend connection a session owns (MULTI/WATCH, blocking commands), and the rule that
//! keeps a session's commands in order when it moves between shared and owned connections.
//!
//! A session owns at most one dedicated connection, to one backend, opened on first need.
//! While it exists, every command of the session for that backend goes over it; commands for
//! other backends use the shared connections. Before a command goes to a different kind of
//! connection than the previous one, the session waits until every reply it is waiting for
//! has arrived, so Redis sees its commands in the order it sent them. The connection is closed
//! when the session ends, on RESET, on a protocol switch, or when the session needs one to
//! another backend: never handed to anybody else.

use super::{Pending, Session};
use crate::backend::conn::BackendConn;
use crate::backend::BackendGroup;
use crate::sync::ReplySlot;
use bytes::Bytes;
use std::rc::Rc;

/// A dedicated backend connection.
pub struct Owned {
    /// Backend address.
    pub addr: String,
    /// The connection.
    pub conn: Rc<BackendConn>,
}

/// Which kind of connection a session's last forwarded command used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lane {
    /// Nothing forwarded yet, or only proxy answers.
    #[default]
    None,
    /// Shared pipelined connections.
    Shared,
    /// The session's own connection.
    Owned,
}

impl Session {
    /// Waits until every backend reply queued before now has arrived.
    pub(super) async fn drain(&self) {
        loop {
            let next = self.queue.items.borrow().iter().find_map(|p| match p {
                Pending::Wait(s) | Pending::Transform(s, _) if !s.is_filled() => Some(s.clone()),
                Pending::Merge(m) => m.parts.iter().find(|s| !s.is_filled()).cloned(),
                Pending::Combine(parts, _) => parts.iter().find(|s| !s.is_filled()).cloned(),
                _ => None,
            });
            match next {
                Some(s) => s.filled().await,
                None => return,
            }
        }
    }

    /// Records that the next command uses `lane`, first draining if the lane changes.
    async fn enter(&mut self, lane: Lane) {
        if self.lane != lane && self.lane != Lane::None {
            self.drain().await;
        }
        self.lane = lane;
    }

    /// The owned connection if it goes to `addr` and still works.
    pub(super) fn owned_to(&self, addr: &str) -> Option<Rc<BackendConn>> {
        self.owned
            .as_ref()
            .filter(|o| o.addr == addr && !o.conn.is_closed())
            .map(|o| o.conn.clone())
    }

    /// The owned connection to `group`, opening one (and closing one to another backend
    /// after its replies arrived) if needed.
    pub(super) async fn own(&mut self, group: &BackendGroup) -> Rc<BackendConn> {
        if let Some(c) = self.owned_to(group.addr()) {
            return c;
        }
        self.release_owned().await;
        let conn = group.dedicated(self.resp3);
        self.owned = Some(Owned {
            addr: group.addr().to_string(),
            conn: conn.clone(),
        });
        conn
    }

    /// Closes the owned connection once its replies are in.
    pub(super) async fn release_owned(&mut self) {
        if self.owned.is_some() {
            self.drain().await;
        }
        if let Some(o) = self.owned.take() {
            o.conn.close();
        }
    }

    /// Closes the owned connection now: the client is gone, so nobody waits for its replies.
    pub(super) fn abandon_owned(&mut self) {
        if let Some(o) = self.owned.take() {
            o.conn.close();
        }
    }

    /// Counts the session as blocked (INFO `blocked_clients`) until `slot` is filled.
    pub(super) fn count_blocked(&self, slot: &Rc<ReplySlot>) {
        if slot.is_filled() {
            return;
        }
        let shard = self.shard.clone();
        let slot = slot.clone();
        if let Some(s) = shard.stats() {
            crate::metrics::bump(&s.blocked, 1);
        }
        glommio::spawn_local(async move {
            slot.filled().await;
            if let Some(s) = shard.stats() {
                crate::metrics::drop_one(&s.blocked);
            }
        })
        .detach();
    }

    /// Forwards `req` on `conn` of kind `lane`, queueing its reply in order.
    pub(super) async fn forward(&mut self, conn: &BackendConn, lane: Lane, req: Bytes) {
        let slot = self.send_on(conn, lane, req).await;
        self.queue.push(Pending::Wait(slot));
    }

    /// Sends `req` on `conn` after the lane rule; returns its reply slot.
    pub(super) async fn send_on(
        &mut self,
        conn: &BackendConn,
        lane: Lane,
        req: Bytes,
    ) -> Rc<ReplySlot> {
        self.enter(lane).await;
        let slot = ReplySlot::new();
        conn.send(req, slot.clone());
        slot
    }

    /// Sends a data command for `group`: over the owned connection if it goes there, else
    /// over the session's shared one. Returns its reply slot.
    pub(super) async fn send_for(&mut self, group: &BackendGroup, req: Bytes) -> Rc<ReplySlot> {
        if let Some(c) = self.owned_to(group.addr()) {
            return self.send_on(&c, Lane::Owned, req).await;
        }
        // why: not while WATCH or MULTI hold the owned connection to another backend.
        let holding = self.watch.is_some() || self.multi.is_some();
        if !holding && super::pause::paused(&self.shard.control) {
            // why: a paused command must not hold the shared connection ([`super::pause`]).
            if self.owned.as_ref().is_none_or(|o| o.conn.is_closed()) {
                let c = self.own(group).await;
                return self.send_on(&c, Lane::Owned, req).await;
            }
            // The owned connection goes to another backend (a fan-out may be waiting on
            // it): a connection for this command alone, after the earlier replies, so
            // commands to this backend keep their order.
            self.drain().await;
            let conn = group.dedicated(self.resp3);
            let slot = self.send_on(&conn, Lane::Owned, req).await;
            let done = slot.clone();
            glommio::spawn_local(async move {
                done.filled().await;
                conn.close();
            })
            .detach();
            return slot;
        }
        match group.for_session(self.id, self.resp3) {
            Some(c) => self.send_on(&c, Lane::Shared, req).await,
            None => {
                let slot = ReplySlot::new();
                slot.fill(Bytes::from_static(b"-ERR internal: backend missing\r\n"));
                slot
            }
        }
    }

    /// Forwards a data command for `group`, queueing its reply in order; `decode`: its reply
    /// may hold compressed values ([`crate::compress`]).
    pub(super) async fn forward_to(&mut self, group: &BackendGroup, req: Bytes, decode: bool) {
        let slot = self.send_for(group, req).await;
        self.push_reply(slot, decode);
    }

    /// Queues the reply in `slot`, decoding compressed values if `decode`.
    pub(super) fn push_reply(&self, slot: Rc<ReplySlot>, decode: bool) {
        if decode {
            self.queue.push(Pending::Transform(
                slot,
                Box::new(crate::compress::decode_reply),
            ));
        } else {
            self.queue.push(Pending::Wait(slot));
        }
    }
}
