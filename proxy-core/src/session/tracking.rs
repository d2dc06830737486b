//! `CLIENT TRACKING` (client-side caching): the backend must see this client's reads on a
//! connection with tracking on, and send its invalidations there (RESP3 pushes) or to the
//! connection of the `REDIRECT` client (a Pub/Sub relay subscribed to
//! `__redis__:invalidate`). So tracking runs on the session's relay ([`super::relay`], mode
//! `Track`): one connection per local backend (the main one and extra ones), each with
//! tracking on and the client's options. While it is on, each keyed command goes to the
//! connection of its slot's backend, so that backend tracks what this client read, and the
//! pumps of all of them copy the invalidations into the client's stream; the proxy's own
//! answers (CLIENT ID/INFO/..., HELLO) wait for the relay to catch up first, to keep replies
//! in order. None of these connections is ever pooled.
//!
//! `REDIRECT <id>` names a proxy client id; the proxy gives each backend the id of that
//! client's relay connection there (`Control::relay_ids`: a subscriber listens on every local
//! backend). `CLIENT GETREDIR` and `CLIENT TRACKINGINFO` show the proxy id.
//!
//! With several local backends, what one connection did on its own for one backend is spread:
//! a transaction runs on the connection of its slot, chosen by its first keyed command (the
//! proxy answers `MULTI` and queues keyless commands until then, as [`super::multi`] does);
//! `WATCH` pins it there too; `CLIENT CACHING yes|no` is checked and answered by the proxy
//! and sent (reply dropped) just before the next command, on that command's connection;
//! node-wide commands outside a transaction go to every backend as usual.

use super::eq;
use super::relay::Mode;
use super::Session;
use crate::command::{KeyError, Keys, Kind, ProxyCmd};
use crate::errors::{fixed, Disposition};
use crate::resp::compose;
use crate::resp::request::Request;
use crate::resp::{reply, Limits};
use crate::route::{route, Route};
use bytes::Bytes;

const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
const DISCARD: &[u8] = b"*1\r\n$7\r\nDISCARD\r\n";
const QUEUED: &[u8] = b"+QUEUED\r\n";
const EXECABORT: &[u8] = b"-EXECABORT Transaction discarded because of previous errors.\r\n";
const WATCH_KEYS: Keys = Keys::Range {
    first: 1,
    last: -1,
    step: 1,
};

/// What the proxy keeps of a client's tracking beside the backends' own state.
#[derive(Debug, Default)]
pub struct TrackState {
    /// `OPTIN` / `OPTOUT` of the last `CLIENT TRACKING on` (to check `CLIENT CACHING`).
    optin: bool,
    optout: bool,
    /// `CLIENT CACHING yes|no` answered by the proxy, for the next command's connection.
    caching: Option<Bytes>,
    /// Open transaction (several backends).
    tx: Option<Tx>,
    /// Connection and slot of the WATCHed keys (several backends).
    watch: Option<(usize, u16)>,
}

/// A transaction while tracking with several local backends.
#[derive(Debug, Default)]
struct Tx {
    /// Connection and slot it runs on, once `MULTI` was sent there.
    on: Option<(usize, u16)>,
    /// A command was refused by the proxy: EXEC aborts.
    dirty: bool,
    /// Keyless commands answered `+QUEUED` before the connection was known.
    buffered: Vec<Bytes>,
}

/// Where a command goes while tracking with several backends.
enum To {
    /// The relay connection to this backend, for this slot.
    Conn(String, u16),
    /// No key: the transaction's connection, else the main one.
    Keyless,
    /// Not sent on the tracking connections.
    Plain,
}

/// `CLIENT TRACKINGINFO`'s reply (RESP2 array or RESP3 map) with `redirect` set to `id`.
pub(super) fn set_redirect(frame: &[u8], id: i64) -> Option<Bytes> {
    let per = match frame.first() {
        Some(b'*') => 1,
        // why: a map's header counts pairs.
        Some(b'%') => 2,
        _ => return None,
    };
    let nl = memchr::memchr(b'\r', frame)?;
    let n: usize = std::str::from_utf8(frame.get(1..nl)?).ok()?.parse().ok()?;
    let mut pos = nl + 2;
    let mut redirect_next = false;
    for k in 0..n.saturating_mul(per) {
        let len = reply::scan(frame.get(pos..)?, &Limits::REPLY).ok()??;
        let el = frame.get(pos..pos + len)?;
        if k == 0 && !el.ends_with(b"\r\nflags\r\n") && el != b"+flags\r\n" {
            return None;
        }
        if redirect_next {
            let mut out = Vec::with_capacity(frame.len() + 8);
            out.extend_from_slice(frame.get(..pos)?);
            compose::integer(&mut out, id);
            out.extend_from_slice(frame.get(pos + len..)?);
            return Some(Bytes::from(out));
        }
        redirect_next = el.ends_with(b"\r\nredirect\r\n") || el == b"+redirect\r\n";
        pos += len;
    }
    None
}

impl Session {
    /// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p]... [BCAST] [OPTIN] [OPTOUT] [NOLOOP]`.
    pub(super) async fn client_tracking(&mut self, req: &Request) {
        let on = eq(req.arg(2), "on");
        if !on && !eq(req.arg(2), "off") {
            return self.error("ERR syntax error");
        }
        let tracking = self.relay.as_ref().is_some_and(|r| r.mode == Mode::Track);
        if !on {
            if !tracking {
                return self.reply_static(fixed::OK);
            }
            for i in 1..self.relay_conns() {
                self.relay_quiet(i, &req.frame).await;
            }
            self.shard_write(0, &req.frame).await;
            self.relay_barrier().await;
            // why: kept (idle if nothing is subscribed) so the backend's ids of these
            // connections stay what other clients' REDIRECT may name.
            if let Some(r) = self.relay.as_mut() {
                r.mode = Mode::PubSub;
                r.redirect = 0;
                r.idle = !r.subscribed();
                r.track = TrackState::default();
            }
            return;
        }
        let view = self.shard.view();
        let Some(first) = view.backends.first() else {
            return self.reply_static(fixed::CLUSTER_NOT_FOUND);
        };
        let addrs: Vec<String> = view.backends.iter().map(|g| g.addr().to_string()).collect();
        let args: Vec<Vec<u8>> = req.args().map(<[u8]>::to_vec).collect();
        // REDIRECT <proxy id>: the target's backend ids, one per local backend.
        let mut redirect = 0;
        let mut ids: Vec<(String, i64)> = Vec::new();
        let at = args
            .iter()
            .skip(3)
            .position(|a| a.eq_ignore_ascii_case(b"redirect"))
            .map(|p| p + 3);
        if let Some(at) = at {
            let target = args
                .get(at + 1)
                .and_then(|a| std::str::from_utf8(a).ok())
                .and_then(|a| a.parse::<u64>().ok());
            let Some(t) = target else {
                return self.error("ERR The client ID you want redirect to does not exist");
            };
            match self.redirect_ids(t, &addrs).await {
                Some(found) => ids = found,
                None => return self.error("ERR The client ID you want redirect to does not exist"),
            }
            redirect = t;
        }
        let flag = |f: &str| {
            args.iter()
                .skip(3)
                .any(|a| a.eq_ignore_ascii_case(f.as_bytes()))
        };
        let (optin, optout) = (flag("optin"), flag("optout"));
        if self.relay.is_none() && !self.open_relay(first.addr(), Mode::Track).await {
            return;
        }
        if let Some(r) = self.relay.as_mut() {
            if r.mode == Mode::PubSub {
                r.mode = Mode::Track;
                r.idle = false;
            }
            r.redirect = redirect;
            r.track.optin = optin;
            r.track.optout = optout;
        }
        // One connection per local backend, the main one answering for all.
        let main = self
            .relay
            .as_ref()
            .map(|r| r.addr.clone())
            .unwrap_or_default();
        for addr in addrs.iter().filter(|a| **a != main) {
            let Some(i) = self.shard_conn(addr).await else {
                return;
            };
            let bytes = tracking_cmd(&args, at, addr, &ids);
            self.relay_quiet(i, &bytes).await;
        }
        let bytes = tracking_cmd(&args, at, &main, &ids);
        self.shard_write(0, &bytes).await;
    }

    /// The backend ids of client `target`'s relay connections on every one of `addrs`.
    /// why: a subscriber's listeners report their ids as they connect; a redirect that
    /// follows its SUBSCRIBE reply closely may come a little before them.
    async fn redirect_ids(&self, target: u64, addrs: &[String]) -> Option<Vec<(String, i64)>> {
        for _ in 0..20 {
            let found = {
                let m = self.shard.control.relay_ids.lock().ok()?;
                let ids = m.get(&target)?;
                addrs
                    .iter()
                    .map(|a| ids.iter().find(|(x, _)| x == a).cloned())
                    .collect::<Option<Vec<_>>>()
            };
            if found.is_some() {
                return found;
            }
            glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
        }
        None
    }

    /// `CLIENT GETREDIR`: -1 without tracking, else the redirect client's id (0 for none).
    pub(super) fn client_getredir(&self) {
        let id = match self.relay.as_ref() {
            Some(r) if r.mode == Mode::Track => r.redirect as i64,
            _ => -1,
        };
        let mut out = Vec::new();
        compose::integer(&mut out, id);
        self.reply(Bytes::from(out));
    }

    /// One request while tracking is on. `Some`: sent on a tracking connection.
    pub(super) async fn in_tracking(
        &mut self,
        kind: Option<Kind>,
        req: &Request,
    ) -> Option<Disposition> {
        let sub = req.arg(1);
        let client = matches!(kind, Some(Kind::Proxy(ProxyCmd::Client)));
        if client && eq(sub, "trackinginfo") {
            let id = self.relay.as_ref().map_or(0, |r| r.redirect as i64);
            self.take_caching(0).await;
            self.relay_trackinginfo(0, &req.frame, id).await;
            return Some(Disposition::Keep);
        }
        if self.shard.view().backends.len() > 1 {
            return self.in_tracking_spread(kind, req).await;
        }
        let relayed = match kind {
            Some(Kind::Data(keys) | Kind::Blocking(keys)) => {
                let view = self.shard.view();
                // why: one local backend; anything it does not own is answered as usual.
                matches!(
                    route(&view.snap, req, keys),
                    Route::Local { .. } | Route::NoKey(_)
                )
            }
            Some(Kind::Proxy(
                ProxyCmd::Node
                | ProxyCmd::Config
                | ProxyCmd::Multi
                | ProxyCmd::Exec
                | ProxyCmd::Discard
                | ProxyCmd::Watch
                | ProxyCmd::Unwatch
                | ProxyCmd::Ping
                | ProxyCmd::Echo
                | ProxyCmd::Relay,
            )) => true,
            Some(Kind::Proxy(ProxyCmd::Client)) => eq(sub, "caching"),
            _ => false,
        };
        if relayed {
            self.relay_write(&req.frame).await;
            return Some(Disposition::Keep);
        }
        self.answer_after_relay(kind, req).await;
        None
    }

    /// The proxy answers: first every earlier reply from the relay.
    async fn answer_after_relay(&mut self, kind: Option<Kind>, req: &Request) {
        self.relay_barrier().await;
        self.relay_follow_hello(kind, req).await;
    }

    /// Sends the pending `CLIENT CACHING` on connection `i`, where the next command goes.
    async fn take_caching(&mut self, i: usize) {
        if let Some(c) = self.relay.as_mut().and_then(|r| r.track.caching.take()) {
            self.relay_quiet(i, &c).await;
        }
    }

    /// Sends a client command on connection `i` (the pending CACHING first).
    async fn track_send(&mut self, i: usize, frame: &[u8]) -> Option<Disposition> {
        self.take_caching(i).await;
        self.shard_write(i, frame).await;
        Some(Disposition::Keep)
    }

    /// Answers for the proxy after the relay caught up.
    async fn track_answer(&mut self, bytes: &'static [u8]) -> Option<Disposition> {
        self.relay_barrier().await;
        self.reply_static(bytes);
        Some(Disposition::Keep)
    }

    /// Tracking with several local backends: each command on its slot's connection.
    async fn in_tracking_spread(
        &mut self,
        kind: Option<Kind>,
        req: &Request,
    ) -> Option<Disposition> {
        let view = self.shard.view();
        let in_tx = self.relay.as_ref().is_some_and(|r| r.track.tx.is_some());
        let to = match kind {
            Some(Kind::Data(keys) | Kind::Blocking(keys)) => match route(&view.snap, req, keys) {
                Route::Local { slot, backend } => match view.backends.get(usize::from(backend)) {
                    Some(g) => To::Conn(g.addr().to_string(), slot),
                    None => To::Plain,
                },
                Route::NoKey(KeyError::NoKeys) => To::Keyless,
                r if in_tx => {
                    // why: inside a transaction an error the proxy makes aborts EXEC.
                    self.relay_barrier().await;
                    self.reply_route_error(r, req);
                    self.tx_dirty();
                    return Some(Disposition::Keep);
                }
                _ => To::Plain,
            },
            Some(Kind::Proxy(ProxyCmd::Ping | ProxyCmd::Echo | ProxyCmd::Relay)) => To::Keyless,
            Some(Kind::Proxy(ProxyCmd::Node | ProxyCmd::Config)) if in_tx => To::Keyless,
            Some(Kind::Proxy(ProxyCmd::Multi)) => return self.track_multi().await,
            Some(Kind::Proxy(ProxyCmd::Exec)) if in_tx => return self.track_exec(req).await,
            Some(Kind::Proxy(ProxyCmd::Discard)) if in_tx => return self.track_discard(req).await,
            Some(Kind::Proxy(ProxyCmd::Watch)) if in_tx => {
                self.relay_barrier().await;
                self.error("ERR WATCH inside MULTI is not allowed");
                return Some(Disposition::Keep);
            }
            Some(Kind::Proxy(ProxyCmd::Watch)) => return self.track_watch(req).await,
            Some(Kind::Proxy(ProxyCmd::Unwatch)) if !in_tx => {
                return match self.relay.as_mut().and_then(|r| r.track.watch.take()) {
                    Some((i, _)) => self.track_send(i, &req.frame).await,
                    None => self.track_answer(fixed::OK).await,
                };
            }
            Some(Kind::Proxy(ProxyCmd::Client)) if eq(req.arg(1), "caching") => {
                return self.track_caching(req).await
            }
            _ if in_tx => {
                self.relay_barrier().await;
                self.error("ERR command not allowed inside a transaction by the proxy");
                self.tx_dirty();
                return Some(Disposition::Keep);
            }
            _ => To::Plain,
        };
        let tx_on = self
            .relay
            .as_ref()
            .and_then(|r| r.track.tx.as_ref().map(|t| t.on));
        match (to, tx_on) {
            (To::Plain, _) => {
                if !client_cmd(kind) {
                    // why: CACHING applies to the client's next command; this one is not
                    // one the backends see.
                    if let Some(r) = self.relay.as_mut() {
                        r.track.caching = None;
                    }
                }
                self.answer_after_relay(kind, req).await;
                None
            }
            (To::Keyless, None) => self.track_send(0, &req.frame).await,
            (to @ (To::Keyless | To::Conn(..)), Some(Some((i, pinned)))) => {
                if let To::Conn(_, slot) = to {
                    if slot != pinned {
                        self.tx_dirty();
                        return self.track_answer(fixed::MULTI_SLOTS).await;
                    }
                }
                self.track_send(i, &req.frame).await
            }
            (To::Keyless, Some(None)) => {
                if let Some(t) = self.relay.as_mut().and_then(|r| r.track.tx.as_mut()) {
                    t.buffered.push(req.frame.clone());
                }
                self.track_answer(QUEUED).await
            }
            (To::Conn(addr, slot), tx) => {
                let i = self.shard_conn(&addr).await?;
                if tx.is_some() {
                    // The transaction starts on this connection.
                    self.take_caching(i).await;
                    self.relay_quiet(i, MULTI).await;
                    let buffered = self
                        .relay
                        .as_mut()
                        .and_then(|r| r.track.tx.as_mut())
                        .map(|t| {
                            t.on = Some((i, slot));
                            std::mem::take(&mut t.buffered)
                        })
                        .unwrap_or_default();
                    for b in buffered {
                        self.relay_quiet(i, &b).await;
                    }
                }
                self.track_send(i, &req.frame).await
            }
        }
    }

    fn tx_dirty(&mut self) {
        if let Some(t) = self.relay.as_mut().and_then(|r| r.track.tx.as_mut()) {
            t.dirty = true;
        }
    }

    /// `MULTI` while tracking with several backends.
    async fn track_multi(&mut self) -> Option<Disposition> {
        let relay = self.relay.as_mut()?;
        if relay.track.tx.is_some() {
            self.relay_barrier().await;
            self.error("ERR MULTI calls can not be nested");
            return Some(Disposition::Keep);
        }
        let watch = relay.track.watch;
        relay.track.tx = Some(Tx {
            on: watch,
            ..Tx::default()
        });
        match watch {
            // why: the watch lives on that connection; EXEC must run there.
            Some((i, _)) => self.track_send(i, MULTI).await,
            None => self.track_answer(fixed::OK).await,
        }
    }

    /// `EXEC` of a transaction while tracking with several backends.
    async fn track_exec(&mut self, req: &Request) -> Option<Disposition> {
        let relay = self.relay.as_mut()?;
        let tx = relay.track.tx.take()?;
        relay.track.watch = None;
        match (tx.dirty, tx.on) {
            (true, on) => {
                if let Some((i, _)) = on {
                    self.relay_quiet(i, DISCARD).await;
                }
                self.track_answer(EXECABORT).await
            }
            (false, Some((i, _))) => self.track_send(i, &req.frame).await,
            (false, None) if tx.buffered.is_empty() => self.track_answer(b"*0\r\n").await,
            (false, None) => {
                self.take_caching(0).await;
                self.relay_quiet(0, MULTI).await;
                for b in &tx.buffered {
                    self.relay_quiet(0, b).await;
                }
                self.shard_write(0, &req.frame).await;
                Some(Disposition::Keep)
            }
        }
    }

    /// `DISCARD` of a transaction while tracking with several backends.
    async fn track_discard(&mut self, req: &Request) -> Option<Disposition> {
        let relay = self.relay.as_mut()?;
        let tx = relay.track.tx.take()?;
        relay.track.watch = None;
        match tx.on {
            Some((i, _)) => self.track_send(i, &req.frame).await,
            None => self.track_answer(fixed::OK).await,
        }
    }

    /// `WATCH` while tracking with several backends: on the connection of its keys' slot.
    async fn track_watch(&mut self, req: &Request) -> Option<Disposition> {
        let view = self.shard.view();
        match route(&view.snap, req, WATCH_KEYS) {
            Route::Local { slot, backend } => {
                let watched = self.relay.as_ref().and_then(|r| r.track.watch);
                if watched.is_some_and(|(_, s)| s != slot) {
                    return self.track_answer(fixed::MULTI_SLOTS).await;
                }
                let addr = view.backends.get(usize::from(backend))?.addr().to_string();
                let i = self.shard_conn(&addr).await?;
                if let Some(r) = self.relay.as_mut() {
                    r.track.watch = Some((i, slot));
                }
                self.track_send(i, &req.frame).await
            }
            other => {
                self.relay_barrier().await;
                self.reply_route_error(other, req);
                Some(Disposition::Keep)
            }
        }
    }

    /// `CLIENT CACHING yes|no` with several backends: checked here as Redis checks it, and
    /// kept for the connection of the next command.
    async fn track_caching(&mut self, req: &Request) -> Option<Disposition> {
        let relay = self.relay.as_mut()?;
        let (optin, optout) = (relay.track.optin, relay.track.optout);
        let yes = eq(req.arg(2), "yes");
        let msg = if req.len() != 3 || !(yes || eq(req.arg(2), "no")) {
            Some("ERR syntax error")
        } else if !optin && !optout {
            Some("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
        } else if yes && !optin {
            Some("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")
        } else if !yes && !optout {
            Some("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
        } else {
            None
        };
        if msg.is_none() {
            relay.track.caching = Some(req.frame.clone());
        }
        self.relay_barrier().await;
        match msg {
            Some(m) => self.error(m),
            None => self.reply_static(fixed::OK),
        }
        Some(Disposition::Keep)
    }
}

/// Whether `kind` is a `CLIENT` subcommand (Redis keeps a pending CACHING across them).
fn client_cmd(kind: Option<Kind>) -> bool {
    matches!(kind, Some(Kind::Proxy(ProxyCmd::Client)))
}

/// The `CLIENT TRACKING` command for the connection to `addr`: `REDIRECT` (at `at`) names
/// the target's connection on that backend.
fn tracking_cmd(args: &[Vec<u8>], at: Option<usize>, addr: &str, ids: &[(String, i64)]) -> Vec<u8> {
    let id = ids.iter().find(|(x, _)| x == addr).map(|(_, id)| *id);
    let mut out = Vec::with_capacity(64);
    compose::array_header(&mut out, args.len());
    for (j, a) in args.iter().enumerate() {
        match (at.map(|p| p + 1) == Some(j), id) {
            (true, Some(id)) => compose::bulk(&mut out, id.to_string().as_bytes()),
            _ => compose::bulk(&mut out, a),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trackinginfo_redirect_becomes_proxy_id() {
        let r2 = b"*6\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$8\r\nredirect\r\n:77\r\n$8\r\nprefixes\r\n*0\r\n";
        let want = b"*6\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$8\r\nredirect\r\n:5\r\n$8\r\nprefixes\r\n*0\r\n";
        assert_eq!(set_redirect(r2, 5).as_deref(), Some(&want[..]));
        let r3 = b"%3\r\n$5\r\nflags\r\n~1\r\n$2\r\non\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n";
        let want3 = b"%3\r\n$5\r\nflags\r\n~1\r\n$2\r\non\r\n$8\r\nredirect\r\n:12\r\n$8\r\nprefixes\r\n*0\r\n";
        assert_eq!(set_redirect(r3, 12).as_deref(), Some(&want3[..]));
        assert_eq!(set_redirect(b"-ERR x\r\n", 1), None);
        assert_eq!(set_redirect(b"*2\r\n$8\r\nredirect\r\n:1\r\n", 1), None);
    }

    #[test]
    fn redirect_names_each_backends_connection() {
        let args: Vec<Vec<u8>> = ["CLIENT", "TRACKING", "on", "REDIRECT", "9", "BCAST"]
            .iter()
            .map(|a| a.as_bytes().to_vec())
            .collect();
        let ids = vec![("a:1".to_string(), 41), ("b:2".to_string(), 42)];
        let cmd = tracking_cmd(&args, Some(3), "b:2", &ids);
        assert_eq!(
            cmd,
            b"*6\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\non\r\n$8\r\nREDIRECT\r\n$2\r\n42\r\n$5\r\nBCAST\r\n"
        );
    }
}
