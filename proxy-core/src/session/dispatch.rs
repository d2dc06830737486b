//! Dispatching one request: proxy-answered commands go to [`super::admin`], data commands are
//! routed ([`crate::route`]) and either forwarded to this session's connection of the owning
//! backend or answered with a redirect or error.

use super::{Pending, Session};
use crate::command::{lookup, KeyError, Kind};
use crate::errors::{fixed, Disposition};
use crate::resp::compose;
use crate::resp::request::Request;
use crate::route::{route, Route};
use crate::sync::ReplySlot;
use bytes::Bytes;

/// Longest command name echoed in an error. why: the name comes from the client.
const MAX_NAME_IN_ERROR: usize = 64;

/// The command name as it may appear in an error reply: lower-case, printable, bounded.
pub fn name_for_error(name: &[u8]) -> String {
    name.iter()
        .take(MAX_NAME_IN_ERROR)
        .map(|&b| {
            if b.is_ascii_graphic() {
                char::from(b.to_ascii_lowercase())
            } else {
                '?'
            }
        })
        .collect()
}

impl Session {
    /// Handles one request, queueing exactly one reply for it.
    pub(super) async fn dispatch(&mut self, req: Request) -> Disposition {
        let name = req.arg(0).unwrap_or_default();
        match lookup(name) {
            None => {
                let msg = format!("ERR unknown command '{}'", name_for_error(name));
                self.error(&msg);
                Disposition::Keep
            }
            Some(Kind::Refused(reason)) => {
                let msg = format!("ERR '{}': {reason}", name_for_error(name));
                self.error(&msg);
                Disposition::Keep
            }
            Some(Kind::Proxy(cmd)) => self.admin(cmd, &req).await,
            Some(Kind::Data(keys)) => {
                if !self.authed {
                    self.reply_static(fixed::NEED_AUTH);
                    return Disposition::Keep;
                }
                let view = self.shard.view();
                match route(&view.snap, &req, keys) {
                    Route::Local { backend, .. } => {
                        let conn = view
                            .backends
                            .get(usize::from(backend))
                            .and_then(|g| g.for_session(self.id));
                        match conn {
                            Some(conn) => {
                                let slot = ReplySlot::new();
                                conn.send(req.wire_bytes(), slot.clone());
                                self.queue.push(Pending::Wait(slot));
                            }
                            None => self.error("ERR internal: backend missing"),
                        }
                    }
                    Route::Moved { slot, peer } => {
                        let mut out = Vec::with_capacity(40);
                        compose::moved(&mut out, slot, view.snap.peer_addr(peer).unwrap_or(""));
                        self.reply(Bytes::from(out));
                    }
                    Route::SlotUnbound(slot) => {
                        let mut out = Vec::with_capacity(32);
                        out.extend_from_slice(b"-slot not covered ");
                        compose::int_digits(&mut out, i64::from(slot));
                        out.extend_from_slice(b"\r\n");
                        self.reply(Bytes::from(out));
                    }
                    Route::NoCluster(slot) => {
                        let def = &self.shard.config.default_redirection_address;
                        if def.is_empty() {
                            self.reply_static(fixed::CLUSTER_NOT_FOUND);
                        } else {
                            let mut out = Vec::with_capacity(40);
                            compose::moved(&mut out, slot, def);
                            self.reply(Bytes::from(out));
                        }
                    }
                    Route::CrossSlot => self.reply_static(fixed::MULTI_SLOTS),
                    Route::NoKey(KeyError::WrongArity) => {
                        let msg = format!(
                            "ERR wrong number of arguments for '{}' command",
                            name_for_error(name)
                        );
                        self.error(&msg);
                    }
                    Route::NoKey(KeyError::NoKeys) => {
                        let msg = format!(
                            "ERR '{}' without keys has nothing to route by; not supported by the proxy",
                            name_for_error(name)
                        );
                        self.error(&msg);
                    }
                    Route::NoKey(KeyError::Blocking) => self
                        .error("ERR blocking XREAD/XREADGROUP is not supported by the proxy yet"),
                }
                Disposition::Keep
            }
        }
    }

    /// Queues `-<msg>`.
    pub(super) fn error(&self, msg: &str) {
        let mut out = Vec::with_capacity(msg.len() + 3);
        compose::error(&mut out, msg.as_bytes());
        self.reply(Bytes::from(out));
    }
}
