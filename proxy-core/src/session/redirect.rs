//! Active redirection (spec 2.10, `active_redirection = true`): a request for a slot a peer
//! proxy owns is forwarded to that peer over this core's pooled connections to it, and the
//! peer's reply relayed, so clients that do not follow MOVED (plain `redis-cli`, redis-py
//! `Redis`) work against any proxy.
//!
//! Hop limit, when `max_redirections` (N) is set: the first proxy sends
//! `UMFORWARD <N-2> <command...>`; a proxy that got `UMFORWARD n` and must forward again
//! sends `UMFORWARD <n-1>`, and with `n = 0` answers `-ERR_TOO_MANY_REDIRECTIONS`. So a
//! request visits at most N proxies. Without `max_redirections` the original forwarded
//! unwrapped, so two proxies with disagreeing metadata (a moment during every slot move) bounced
//! a request for ever; we apply the largest limit, [`DEFAULT_MAX_REDIRECTIONS`], instead.

use super::owned::Lane;
use super::Session;
use crate::backend::BackendGroup;
use crate::command::lookup;
use crate::resp::request::{self, Request};
use crate::resp::{compose, Limits};
use crate::shard::CoreView;
use bytes::Bytes;
use std::rc::Rc;

const TOO_MANY: &[u8] = b"-ERR_TOO_MANY_REDIRECTIONS\r\n";
/// Hop limit when `max_redirections` is unset: the clamp of spec 2.10.
pub const DEFAULT_MAX_REDIRECTIONS: u64 = 4;

impl Session {
    /// The bytes to send a peer for a command made of `args`, or `None` when the hop limit
    /// forbids forwarding.
    pub(super) fn peer_bytes<'a>(
        &self,
        args: impl Iterator<Item = &'a [u8]>,
        n: usize,
    ) -> Option<Bytes> {
        let max = self
            .shard
            .config
            .max_redirections
            .unwrap_or(DEFAULT_MAX_REDIRECTIONS);
        let hops = match self.hops_left {
            Some(0) => return None,
            Some(h) => h - 1,
            // why: N counts proxies visited; fewer than 2 means never forward.
            None if max < 2 => return None,
            None => max - 2,
        };
        let mut out = Vec::with_capacity(64);
        compose::array_header(&mut out, n + 2);
        compose::bulk(&mut out, b"UMFORWARD");
        compose::bulk(&mut out, hops.to_string().as_bytes());
        for a in args {
            compose::bulk(&mut out, a);
        }
        Some(Bytes::from(out))
    }

    /// This core's connections to peer `peer` for a request at this session's hop count.
    pub(super) fn peer_group(&self, view: &CoreView, peer: u16) -> Option<Rc<BackendGroup>> {
        let first = view.peers.get(usize::from(peer))?;
        match self.hops_left {
            None => Some(first.clone()),
            Some(h) => Some(self.shard.relay_group(first.addr(), h)),
        }
    }

    /// Forwards `req` to peer proxy `group` (blocking commands on an owned connection).
    pub(super) async fn forward_peer(
        &mut self,
        group: &BackendGroup,
        req: &Request,
        blocking: bool,
    ) {
        let Some(bytes) = self.peer_bytes(req.args(), req.len()) else {
            return self.reply_static(TOO_MANY);
        };
        if blocking {
            if self.watch.is_some() && self.owned_to(group.addr()).is_none() {
                return self.error("ERR a blocking command on another backend than the WATCHed keys is not supported by the proxy");
            }
            let conn = self.own(group).await;
            self.forward(&conn, Lane::Owned, bytes).await;
        } else {
            // why: the peer applies compression itself; its replies arrive decoded.
            self.forward_to(group, bytes, false).await;
        }
    }

    /// `UMFORWARD <hops> <command...>`: serve the inner command with `hops` left.
    pub(super) async fn umforward(&mut self, req: &Request) {
        let hops = req
            .arg(1)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| h.parse::<u64>().ok());
        let Some(hops) = hops else {
            return self.reply_static(b"-invalid redirection times\r\n");
        };
        if req.len() < 3 {
            return self.reply_static(b"-missing forwarded command\r\n");
        }
        let mut out = Vec::with_capacity(req.frame.len());
        compose::array_header(&mut out, req.len() - 2);
        for a in req.args().skip(2) {
            compose::bulk(&mut out, a);
        }
        let bytes = Bytes::from(out);
        let inner = match request::parse(&bytes, &Limits::REQUEST) {
            Ok(Some(p)) => Request::new(bytes.clone(), p),
            _ => return self.error("ERR invalid forwarded command"),
        };
        let kind = lookup(inner.arg(0).unwrap_or_default());
        self.hops_left = Some(hops);
        let _ = Box::pin(self.dispatch_plain(kind, &inner)).await;
        self.hops_left = None;
    }
}
