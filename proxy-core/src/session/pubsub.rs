//! Pub/Sub across the proxies of a cluster (issue #9): the commands that are not served on
//! the session's relay ([`super::relay`]).
//!
//! Classic `PUBLISH` fans out: this proxy publishes on its first local backend (where all
//! its channel and pattern subscribers listen) and sends `UMPUBLISH <channel> <message>`
//! once to every peer proxy of the SETCLUSTER metadata; a peer publishes that on its own
//! first backend only and never forwards it again. The reply is the sum of the receivers.
//! A peer that is down or does not answer within `backend_timeout` counts 0 receivers: it
//! delays, never fails, the PUBLISH.
//!
//! ```text
//!  PUBLISH ─► proxy C ─┬─► PUBLISH   ─► C's first backend ─► C's subscribers
//!                      ├─► UMPUBLISH ─► proxy A ─► A's first backend ─► A's subscribers
//!                      └─► UMPUBLISH ─► proxy B ─► B's first backend ─► B's subscribers
//! ```
//!
//! Sharded Pub/Sub needs no fan-out: a shard channel lives on its slot's owner, like a key.
//! `PUBSUB SHARDCHANNELS`/`SHARDNUMSUB` are answered for this proxy's backends together.

use super::eq;
use super::{Pending, Session};
use crate::backend::BackendGroup;
use crate::resp::request::Request;
use crate::resp::{compose, reply, Limits};
use crate::sync::ReplySlot;
use bytes::Bytes;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

thread_local! {
    /// This core's connections to the peer proxies for `UMPUBLISH` (one per peer). why: kept
    /// apart from the active redirection pools, which exist only in that mode; a core runs
    /// on one thread, so a thread-local is this core's.
    static PEERS: RefCell<HashMap<String, Rc<BackendGroup>>> = RefCell::new(HashMap::new());
}

/// The integer of a `:n` reply; anything else (an error, a timeout) counts 0.
fn count(frame: &[u8]) -> i64 {
    frame
        .strip_prefix(b":")
        .and_then(|d| d.strip_suffix(b"\r\n"))
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse::<i64>().ok())
        .unwrap_or(0)
}

/// The PUBLISH reply: the local backend's (an error stays an error), plus the peers' counts.
fn sum_receivers(parts: &[&[u8]]) -> Bytes {
    let Some((local, peers)) = parts.split_first() else {
        return Bytes::from_static(b":0\r\n");
    };
    if !local.starts_with(b":") {
        return Bytes::copy_from_slice(local);
    }
    let total = peers
        .iter()
        .fold(count(local), |s, p| s.saturating_add(count(p)));
    let mut out = Vec::with_capacity(16);
    compose::integer(&mut out, total);
    Bytes::from(out)
}

/// `PUBSUB SHARDNUMSUB` of several backends: flat `[channel, n, ...]` arrays, the counts
/// added position by position (a channel has subscribers on one backend only, its slot's).
fn sum_numsub(parts: &[&[u8]]) -> Bytes {
    if let Some(e) = parts.iter().find(|p| !p.starts_with(b"*")) {
        return Bytes::copy_from_slice(e);
    }
    let mut names: Vec<&[u8]> = Vec::new();
    let mut counts: Vec<i64> = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let Some(el) = reply::array_elements(p, &Limits::REPLY) else {
            return Bytes::from_static(b"-ERR proxy: unexpected backend reply\r\n");
        };
        for (j, &(s, e)) in el.iter().enumerate() {
            let v = p.get(s..e).unwrap_or_default();
            if j % 2 == 0 {
                if i == 0 {
                    names.push(v);
                }
            } else if let Some(c) = counts.get_mut(j / 2) {
                *c = c.saturating_add(count(v));
            } else {
                counts.push(count(v));
            }
        }
    }
    let mut out = Vec::with_capacity(64);
    compose::array_header(&mut out, names.len() * 2);
    for (n, c) in names.iter().zip(counts.iter().chain(std::iter::repeat(&0))) {
        out.extend_from_slice(n);
        compose::integer(&mut out, *c);
    }
    Bytes::from(out)
}

impl Session {
    /// This core's `UMPUBLISH` connections to the current peers (others closed).
    fn pubsub_peers(&self) -> Vec<Rc<BackendGroup>> {
        let view = self.shard.view();
        let timeout = Duration::from_millis(self.shard.config.backend_timeout.max(1));
        PEERS.with(|m| {
            let mut m = m.borrow_mut();
            m.retain(|addr, g| {
                let keep = view.snap.peer.iter().any(|(a, _)| a == addr);
                if !keep {
                    g.close();
                }
                keep
            });
            let mut out = Vec::with_capacity(view.snap.peer.len());
            for (addr, _) in &view.snap.peer {
                let g = m
                    .entry(addr.clone())
                    .or_insert_with(|| BackendGroup::new(addr, 1, timeout));
                if !out.iter().any(|o: &Rc<BackendGroup>| o.addr() == addr) {
                    out.push(g.clone());
                }
            }
            out
        })
    }

    /// `PUBLISH channel message`: on the first local backend and, once, on every peer.
    pub(super) async fn publish(&mut self, req: &Request) {
        let view = self.shard.view();
        let Some(first) = view.backends.first().cloned() else {
            return self.reply_static(crate::errors::fixed::CLUSTER_NOT_FOUND);
        };
        if req.len() != 3 {
            // why: the backend's own arity error.
            return self.send_to_any(req.wire_bytes()).await;
        }
        let mut parts: Vec<Rc<ReplySlot>> = vec![self.send_for(&first, req.wire_bytes()).await];
        let peers = self.pubsub_peers();
        if !peers.is_empty() {
            let mut um = Vec::with_capacity(req.frame.len() + 24);
            compose::array_header(&mut um, 3);
            compose::bulk(&mut um, b"UMPUBLISH");
            compose::bulk(&mut um, req.arg(1).unwrap_or_default());
            compose::bulk(&mut um, req.arg(2).unwrap_or_default());
            let um = Bytes::from(um);
            for g in &peers {
                parts.push(self.send_for(g, um.clone()).await);
            }
        }
        self.queue
            .push(Pending::Combine(parts, Box::new(sum_receivers)));
    }

    /// `UMPUBLISH channel message` from a peer proxy: published on this proxy's first
    /// backend only, never forwarded again.
    pub(super) async fn umpublish(&mut self, req: &Request) {
        if req.len() != 3 {
            return self.error("ERR wrong number of arguments for 'umpublish' command");
        }
        if self.shard.view().backends.is_empty() {
            return self.reply_static(b":0\r\n");
        }
        let mut out = Vec::with_capacity(req.frame.len());
        compose::array_header(&mut out, 3);
        compose::bulk(&mut out, b"PUBLISH");
        compose::bulk(&mut out, req.arg(1).unwrap_or_default());
        compose::bulk(&mut out, req.arg(2).unwrap_or_default());
        self.send_to_any(Bytes::from(out)).await;
    }

    /// `PUBSUB <sub> ...`: shard channel queries over every local backend; the classic
    /// ones on the first backend, where this proxy's channel subscribers are.
    pub(super) async fn pubsub(&mut self, req: &Request) {
        let bytes = req.wire_bytes();
        let n = self.shard.view().backends.len();
        if eq(req.arg(1), "shardchannels") && n > 1 {
            self.fan_out(bytes, super::merge::MergeKind::Concat).await
        } else if eq(req.arg(1), "shardnumsub") && n > 1 {
            let view = self.shard.view();
            let mut parts = Vec::with_capacity(n);
            for g in &view.backends {
                parts.push(self.send_for(g, bytes.clone()).await);
            }
            self.queue
                .push(Pending::Combine(parts, Box::new(sum_numsub)));
        } else {
            self.send_to_any(bytes).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_receivers_and_ignores_failed_peers() {
        let m = sum_receivers(&[b":1\r\n", b":2\r\n", b"-ERR proxy: timeout\r\n"]);
        assert_eq!(&m[..], b":3\r\n");
        let m = sum_receivers(&[b"-ERR down\r\n", b":2\r\n"]);
        assert_eq!(&m[..], b"-ERR down\r\n");
    }

    #[test]
    fn sums_numsub_by_position() {
        let a: &[u8] = b"*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:0\r\n";
        let b: &[u8] = b"*4\r\n$1\r\na\r\n:0\r\n$1\r\nb\r\n:2\r\n";
        let m = sum_numsub(&[a, b]);
        assert_eq!(&m[..], b"*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:2\r\n");
    }
}
