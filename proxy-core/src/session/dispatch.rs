//! Dispatching one request: proxy-answered commands go to [`super::admin`], an open
//! transaction to [`super::multi`], data commands are routed ([`crate::route`]) and forwarded
//! to this session's connection of the owning backend (blocking ones on the session's owned
//! connection, [`super::owned`]) or answered with a redirect or error.

use super::owned::Lane;
use super::Session;
use crate::command::{lookup, xread_blocks, KeyError, Keys, Kind, ProxyCmd};
use crate::compress::{self, Effect};
use crate::errors::{fixed, Disposition};
use crate::resp::compose;
use crate::resp::request::{self, Request};
use crate::resp::Limits;
use crate::route::{route, Route};
use crate::snapshot::ClusterSnapshot;
use bytes::Bytes;
use control::model::CompressionStrategy;

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

/// Whether `kind` may run before AUTH. why: Redis allows AUTH, HELLO, QUIT and RESET; the
/// proxy's own answers (PING, CLUSTER, INFO, UMCTL for the coordinator) stay open as in the
/// original. CONFIG (which now reaches the backends) and SLOWLOG (which shows arguments) are
/// tightened, as spec 2.5 allows.
fn needs_auth(kind: Option<Kind>) -> bool {
    matches!(
        kind,
        Some(
            Kind::Data(_)
                | Kind::Blocking(_)
                | Kind::Proxy(
                    ProxyCmd::Multi
                        | ProxyCmd::Exec
                        | ProxyCmd::Discard
                        | ProxyCmd::Watch
                        | ProxyCmd::Unwatch
                        | ProxyCmd::Client
                        | ProxyCmd::Node
                        | ProxyCmd::Wait
                        | ProxyCmd::Config
                        | ProxyCmd::Slowlog
                        | ProxyCmd::Relay
                )
        )
    )
}

/// What compression does to one request.
enum Compression {
    /// `set_get_only` refuses the command.
    Refuse,
    /// Forward as is; `decode` its reply.
    Pass { decode: bool },
    /// Forward this request (values compressed) and decode its reply.
    Rewrite(Request),
}

/// EVAL, EVALSHA, FCALL and their `_RO` forms. why: a script may run longer than the
/// backend timeout, and while it runs its connection is held; it runs on the session's owned
/// connection so a shared one is neither held nor timed out.
fn is_script(name: &[u8]) -> bool {
    const SCRIPTS: [&[u8]; 6] = [
        b"eval",
        b"evalsha",
        b"eval_ro",
        b"evalsha_ro",
        b"fcall",
        b"fcall_ro",
    ];
    SCRIPTS.iter().any(|s| name.eq_ignore_ascii_case(s))
}

fn is_xread(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"xread") || name.eq_ignore_ascii_case(b"xreadgroup")
}

impl Session {
    /// Handles one request, queueing exactly one reply for it.
    pub(super) async fn dispatch(&mut self, req: Request) -> Disposition {
        let kind = lookup(req.arg(0).unwrap_or_default());
        if !self.authed && needs_auth(kind) {
            self.reply_static(fixed::NEED_AUTH);
            return Disposition::Keep;
        }
        if self.relay.is_some() {
            if let Some(d) = self.in_relay(kind, &req).await {
                return d;
            }
        }
        let ends_session = matches!(kind, Some(Kind::Proxy(ProxyCmd::Quit | ProxyCmd::Reset)));
        if self.multi.is_some() && !ends_session {
            self.in_multi(kind, &req).await;
            return Disposition::Keep;
        }
        self.dispatch_plain(kind, &req).await
    }

    /// Handles one request outside a transaction.
    pub(super) async fn dispatch_plain(
        &mut self,
        kind: Option<Kind>,
        req: &Request,
    ) -> Disposition {
        let name = req.arg(0).unwrap_or_default();
        let (keys, blocking) = match kind {
            None => {
                let msg = format!("ERR unknown command '{}'", name_for_error(name));
                self.error(&msg);
                return Disposition::Keep;
            }
            Some(Kind::Refused(reason)) => {
                let msg = format!("ERR '{}': {reason}", name_for_error(name));
                self.error(&msg);
                return Disposition::Keep;
            }
            Some(Kind::Proxy(cmd)) => return self.admin(cmd, req).await,
            Some(Kind::Data(keys)) => (keys, is_xread(name) && xread_blocks(req)),
            Some(Kind::Blocking(keys)) => (keys, true),
        };
        if !self.migration_gate(req, keys, blocking).await {
            return Disposition::Keep;
        }
        let view = self.shard.view();
        let (rewritten, decode) = match self.compression(req, &view.snap, blocking) {
            Compression::Refuse => {
                self.reply_static(compress::UNSUPPORTED);
                return Disposition::Keep;
            }
            Compression::Pass { decode } => (None, decode),
            Compression::Rewrite(r) => (Some(r), true),
        };
        let orig = req;
        let req = rewritten.as_ref().unwrap_or(req);
        match route(&view.snap, req, keys) {
            Route::Local { backend, .. } => {
                let Some(group) = view.backends.get(usize::from(backend)) else {
                    self.error("ERR internal: backend missing");
                    return Disposition::Keep;
                };
                if is_script(name) && self.owned_to(group.addr()).is_some()
                    || is_script(name) && self.watch.is_none()
                {
                    let conn = self.own(group).await;
                    let slot = self.send_on(&conn, Lane::Owned, req.wire_bytes()).await;
                    self.push_reply(slot, decode);
                } else if !blocking {
                    self.forward_to(group, req.wire_bytes(), decode).await;
                } else if self.watch.is_some() && self.owned_to(group.addr()).is_none() {
                    self.error("ERR a blocking command on another backend than the WATCHed keys is not supported by the proxy");
                } else {
                    // why: a blocking command parks its connection; only the session's own.
                    let conn = self.own(group).await;
                    let slot = self.send_on(&conn, Lane::Owned, req.wire_bytes()).await;
                    self.count_blocked(&slot);
                    self.queue.push(super::Pending::Wait(slot));
                }
            }
            Route::Moved { peer, .. } if self.shard.config.active_redirection => {
                match self.peer_group(&view, peer) {
                    Some(g) => self.forward_peer(&g, orig, blocking).await,
                    None => self.error("ERR internal: peer missing"),
                }
            }
            Route::CrossSlot if !blocking && self.try_split(req, decode).await => {}
            // A bad `numkeys` (negative, not a number, more than the arguments): the command
            // cannot run anywhere; a backend gives Redis' exact error.
            Route::NoKey(KeyError::WrongArity)
                if matches!(keys, Keys::NumKeys { .. }) && !view.backends.is_empty() =>
            {
                self.send_to_any(req.wire_bytes()).await
            }
            // `numkeys` 0 (EVAL, FCALL...): any local backend runs it, or gives Redis' error.
            Route::NoKey(KeyError::NoKeys) if !view.backends.is_empty() => {
                match view.backends.first() {
                    Some(g) if is_script(name) && self.watch.is_none() => {
                        let conn = self.own(g).await;
                        self.forward(&conn, Lane::Owned, req.wire_bytes()).await
                    }
                    _ => self.send_to_any(req.wire_bytes()).await,
                }
            }
            other => self.reply_route_error(other, req),
        }
        Disposition::Keep
    }

    /// Applies the cluster's `compression_strategy` to a data command.
    fn compression(&self, req: &Request, snap: &ClusterSnapshot, blocking: bool) -> Compression {
        let name = req.arg(0).unwrap_or_default();
        let strategy = snap.config.compression_strategy;
        if strategy == CompressionStrategy::Disabled || blocking {
            return Compression::Pass { decode: false };
        }
        match compress::effect(name) {
            Effect::None => Compression::Pass { decode: false },
            Effect::Read => Compression::Pass { decode: true },
            Effect::Raw if strategy == CompressionStrategy::SetGetOnly => Compression::Refuse,
            Effect::Raw => Compression::Pass { decode: false },
            Effect::Write { first, step } => {
                let Some(bytes) = compress::compress_request(req, first, step) else {
                    return Compression::Pass { decode: true };
                };
                match request::parse(&bytes, &Limits::REQUEST) {
                    Ok(Some(parsed)) => Compression::Rewrite(Request::new(bytes, parsed)),
                    // why: we built these bytes; if they do not parse, send the original.
                    _ => Compression::Pass { decode: true },
                }
            }
        }
    }

    /// The reply for every route that does not reach a local backend.
    pub(super) fn reply_route_error(&self, r: Route, req: &Request) {
        let name = req.arg(0).unwrap_or_default();
        let view = self.shard.view();
        match r {
            Route::Local { .. } => self.error("ERR internal: unexpected local route"),
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
        }
    }

    /// Queues `-<msg>`.
    pub(super) fn error(&self, msg: &str) {
        let mut out = Vec::with_capacity(msg.len() + 3);
        compose::error(&mut out, msg.as_bytes());
        self.reply(Bytes::from(out));
    }
}
