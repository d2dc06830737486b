//! `CLIENT TRACKING` (client-side caching): the backend must see this client's reads on a
//! connection with tracking on, and send its invalidations there (RESP3 pushes) or to the
//! connection of the `REDIRECT` client (a Pub/Sub relay subscribed to
//! `__redis__:invalidate`). So tracking runs on a relay connection of the session's own
//! ([`super::relay`], mode `Track`): while it is on, the session's keyed commands,
//! transactions and node commands go there; the proxy's own answers (CLIENT ID/INFO/..., HELLO)
//! wait for the relay to catch up first, to keep replies in order.
//!
//! `REDIRECT <id>` names a proxy client id; the proxy replaces it with the backend's id of
//! that client's relay connection (`Control::relay_ids`). A proxy with several local backends
//! refuses tracking: a read on one backend and its invalidation on another cannot be tied to
//! one connection.

use super::relay::Mode;
use super::Session;
use crate::command::{Kind, ProxyCmd};
use crate::errors::{fixed, Disposition};
use crate::resp::compose;
use crate::resp::request::Request;
use crate::route::{route, Route};
use bytes::Bytes;

fn eq(a: Option<&[u8]>, b: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(b.as_bytes()))
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
            self.relay_write(&req.frame).await;
            self.relay_barrier().await;
            // why: kept (idle if nothing is subscribed) so the backend's id of this
            // connection stays what other clients' REDIRECT may name.
            if let Some(r) = self.relay.as_mut() {
                r.mode = Mode::PubSub;
                r.redirect = 0;
                r.idle = !r.subscribed();
            }
            return;
        }
        let view = self.shard.view();
        let [group] = view.backends.as_slice() else {
            return self.error(
                "ERR proxy: CLIENT TRACKING is served by proxies with one local backend only",
            );
        };
        // Rewrite REDIRECT <proxy id> to the backend's id of that client's relay.
        let mut args: Vec<Vec<u8>> = req.args().map(<[u8]>::to_vec).collect();
        let mut redirect = 0;
        let mut i = 3;
        while i < args.len() {
            if args
                .get(i)
                .is_some_and(|a| a.eq_ignore_ascii_case(b"redirect"))
            {
                let target = args
                    .get(i + 1)
                    .and_then(|a| std::str::from_utf8(a).ok())
                    .and_then(|a| a.parse::<u64>().ok());
                let found = target.and_then(|t| {
                    let m = self.shard.control.relay_ids.lock().ok()?;
                    m.get(&t)
                        .filter(|(addr, _)| addr == group.addr())
                        .map(|(_, id)| (t, *id))
                });
                let Some((t, backend_id)) = found else {
                    return self.error("ERR The client ID you want redirect to does not exist");
                };
                redirect = t;
                if let Some(a) = args.get_mut(i + 1) {
                    *a = backend_id.to_string().into_bytes();
                }
                i += 1;
            }
            i += 1;
        }
        let mut bytes = Vec::with_capacity(req.frame.len() + 16);
        compose::array_header(&mut bytes, args.len());
        for a in &args {
            compose::bulk(&mut bytes, a);
        }
        let addr = group.addr().to_string();
        if self.relay.is_none() && !self.open_relay(&addr, Mode::Track).await {
            return;
        }
        if let Some(r) = self.relay.as_mut() {
            if r.mode == Mode::PubSub {
                r.mode = Mode::Track;
                r.idle = false;
            }
            r.redirect = redirect;
        }
        self.relay_write(&bytes).await;
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

    /// One request while tracking is on. `Some`: sent on the tracking connection.
    pub(super) async fn in_tracking(
        &mut self,
        kind: Option<Kind>,
        req: &Request,
    ) -> Option<Disposition> {
        let sub = req.arg(1);
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
            Some(Kind::Proxy(ProxyCmd::Client)) => eq(sub, "caching") || eq(sub, "trackinginfo"),
            _ => false,
        };
        if relayed {
            self.relay_write(&req.frame).await;
            return Some(Disposition::Keep);
        }
        // The proxy answers: first every earlier reply from the relay.
        self.relay_barrier().await;
        self.relay_follow_hello(kind, req).await;
        None
    }
}
