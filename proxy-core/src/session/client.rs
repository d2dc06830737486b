//! Per-connection commands the proxy answers for the session itself: `AUTH`, `HELLO`
//! (protocol switch), `CLIENT SETNAME/GETNAME/ID/INFO/SETINFO`, `RESET`.

use super::eq;
use super::Session;
use crate::errors::fixed;
use crate::resp::compose;
use crate::resp::request::Request;
use bytes::Bytes;

/// Redis version reported by HELLO. why: clients pick features by it; the backends are
/// Redis 7, and the proxy forwards Redis 7 commands.
const REDIS_VERSION: &str = "7.0.0";
/// Longest client name kept. why: the name comes from the client.
const MAX_NAME: usize = 256;

impl Session {
    /// A process-wide unique client id: per-core counter interleaved with the core index.
    pub(super) fn client_id(&self) -> u64 {
        let cores = self.shard.control.stats.len().max(1) as u64;
        self.id
            .wrapping_mul(cores)
            .wrapping_add(self.shard.core as u64)
            .wrapping_add(1)
    }

    /// Whether `user`/`pass` are the configured credentials (user `default` only).
    fn credentials_ok(&self, user: &[u8], pass: &[u8]) -> bool {
        match self.shard.config.password.as_deref() {
            None => user == b"default",
            Some(p) => user == b"default" && pass == p.as_bytes(),
        }
    }

    /// `AUTH <password>` or `AUTH <user> <password>`.
    pub(super) fn auth(&mut self, req: &Request) {
        let (user, pass) = match (req.arg(1), req.arg(2), req.arg(3)) {
            (Some(p), None, _) => (&b"default"[..], p),
            (Some(u), Some(p), None) => (u, p),
            _ => return self.error("ERR wrong number of arguments for 'auth' command"),
        };
        let control = self.shard.config.control_password.as_deref();
        if req.arg(2).is_none() && control.is_some_and(|c| c.as_bytes() == pass) {
            // why: the coordinator's connection; it unlocks UMCTL only, never data.
            self.control_authed = true;
            return self.reply_static(fixed::OK);
        }
        if self.shard.config.password.is_none() && req.arg(2).is_none() {
            return self.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        }
        if self.credentials_ok(user, pass) {
            self.authed = true;
            self.reply_static(fixed::OK)
        } else {
            self.reply_static(fixed::INVALID_PASSWORD)
        }
    }

    /// `HELLO [protover [AUTH user pass] [SETNAME name]]`.
    pub(super) async fn hello(&mut self, req: &Request) {
        let mut proto = if self.resp3 { 3 } else { 2 };
        if let Some(v) = req.arg(1) {
            proto = match v {
                b"2" => 2,
                b"3" => 3,
                _ => return self.error("NOPROTO unsupported protocol version"),
            };
        }
        let mut name = None;
        let mut i = 2;
        while let Some(opt) = req.arg(i) {
            if opt.eq_ignore_ascii_case(b"AUTH") {
                let (Some(u), Some(p)) = (req.arg(i + 1), req.arg(i + 2)) else {
                    return self.error("ERR Syntax error in HELLO option 'auth'");
                };
                if !self.credentials_ok(u, p) {
                    return self.reply_static(fixed::INVALID_PASSWORD);
                }
                self.authed = true;
                i += 3;
            } else if opt.eq_ignore_ascii_case(b"SETNAME") {
                let Some(n) = req.arg(i + 1) else {
                    return self.error("ERR Syntax error in HELLO option 'setname'");
                };
                if !valid_name(n) {
                    return self.error(
                        "ERR Client names cannot contain spaces, newlines or special characters.",
                    );
                }
                name = Some(Bytes::copy_from_slice(n));
                i += 2;
            } else {
                let msg = format!(
                    "ERR Syntax error in HELLO option '{}'",
                    super::dispatch::name_for_error(opt)
                );
                return self.error(&msg);
            }
        }
        if !self.authed {
            return self.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        }
        if name.is_some() {
            self.name = name;
        }
        let resp3 = proto == 3;
        if resp3 != self.resp3 {
            // why: the owned connection speaks the old protocol; the shared ones are per
            // protocol already. Only when no state lives on it.
            if self.multi.is_none() && self.watch.is_none() {
                self.release_owned().await;
            }
            self.resp3 = resp3;
        }
        let mut out = Vec::with_capacity(160);
        if resp3 {
            out.extend_from_slice(b"%7\r\n");
        } else {
            compose::array_header(&mut out, 14);
        }
        for (k, v) in [("server", "redis"), ("version", REDIS_VERSION)] {
            compose::bulk(&mut out, k.as_bytes());
            compose::bulk(&mut out, v.as_bytes());
        }
        compose::bulk(&mut out, b"proto");
        compose::integer(&mut out, proto);
        compose::bulk(&mut out, b"id");
        compose::integer(&mut out, self.client_id() as i64);
        for (k, v) in [("mode", "cluster"), ("role", "master")] {
            compose::bulk(&mut out, k.as_bytes());
            compose::bulk(&mut out, v.as_bytes());
        }
        compose::bulk(&mut out, b"modules");
        compose::array_header(&mut out, 0);
        self.reply(Bytes::from(out));
    }

    /// `CLIENT <sub>` answered for this session.
    pub(super) fn client(&mut self, req: &Request) {
        let sub = req.arg(1);
        if eq(sub, "setname") {
            match (req.arg(2), req.arg(3)) {
                (Some(n), None) if valid_name(n) => {
                    self.name = (!n.is_empty()).then(|| Bytes::copy_from_slice(n));
                    self.reply_static(fixed::OK)
                }
                (Some(_), None) => self.error(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                ),
                _ => self.error("ERR wrong number of arguments for 'client|setname' command"),
            }
        } else if eq(sub, "getname") {
            match self.name.clone() {
                Some(n) => {
                    let mut out = Vec::with_capacity(n.len() + 16);
                    compose::bulk(&mut out, &n);
                    self.reply(Bytes::from(out))
                }
                None if self.resp3 => self.reply_static(b"_\r\n"),
                None => self.reply_static(b"$-1\r\n"),
            }
        } else if eq(sub, "id") {
            let mut out = Vec::new();
            compose::integer(&mut out, self.client_id() as i64);
            self.reply(Bytes::from(out));
        } else if eq(sub, "info") {
            let name = self.name.as_deref().unwrap_or_default();
            // why: Redis' field order and names, so tools parsing it work; the buffer and
            // memory fields are the proxy's view (this request's size), the rest as Redis.
            let age = self.peer.since.elapsed().as_secs();
            let line = format!(
                "id={} addr={} laddr={} fd=0 name={} age={age} idle=0 flags={} db=0 sub=0 \
                 psub=0 ssub=0 multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 \
                 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=client|info user=default redir=-1 \
                 resp={} watch={}\n",
                self.client_id(),
                self.peer.addr,
                self.peer.laddr,
                String::from_utf8_lossy(name),
                if self.multi.is_some() { "x" } else { "N" },
                if self.multi.is_some() { 0 } else { -1 },
                req.frame.len(),
                if self.resp3 { 3 } else { 2 },
                u8::from(self.watch.is_some()),
            );
            let mut out = Vec::with_capacity(line.len() + 16);
            compose::bulk(&mut out, line.as_bytes());
            self.reply(Bytes::from(out));
        } else if eq(sub, "reply") && req.arg(3).is_none() {
            let mode = match req.arg(2) {
                Some(m) if m.eq_ignore_ascii_case(b"on") => ReplyMode::On,
                Some(m) if m.eq_ignore_ascii_case(b"off") => ReplyMode::Off,
                Some(m) if m.eq_ignore_ascii_case(b"skip") => ReplyMode::Skip,
                _ => return self.error("ERR syntax error"),
            };
            self.queue.push(super::Pending::ReplyMode(mode));
            if mode == ReplyMode::On {
                self.reply_static(fixed::OK);
            }
        } else if eq(sub, "setinfo") {
            // why: redis-py sends LIB-NAME/LIB-VER on connect; the proxy keeps no client list.
            match (req.arg(2), req.arg(3)) {
                (Some(_), Some(v)) if valid_name(v) => self.reply_static(fixed::OK),
                (Some(_), Some(_)) => self.error(
                    "ERR lib-name and lib-ver cannot contain spaces, newlines or special characters.",
                ),
                _ => self.error("ERR wrong number of arguments for 'client|setinfo' command"),
            }
        } else {
            let msg = format!(
                "ERR CLIENT {} is not supported by the proxy",
                super::dispatch::name_for_error(sub.unwrap_or_default())
            );
            self.error(&msg);
        }
    }

    /// `RESET`: leaves every state (transaction, watch, owned connection), back to RESP2,
    /// unnamed, and unauthenticated if a password is set.
    pub(super) async fn reset(&mut self) {
        self.multi = None;
        self.watch = None;
        self.release_owned().await;
        self.resp3 = false;
        self.name = None;
        self.authed = self.shard.config.password.is_none();
        self.control_authed = self.shard.config.control_password.is_none();
        self.reply_static(b"+RESET\r\n");
    }
}

/// Redis' rule for client names: printable ASCII without spaces.
fn valid_name(n: &[u8]) -> bool {
    n.len() <= MAX_NAME && n.iter().all(|&b| b.is_ascii_graphic())
}

/// Where a session's connection comes from and since when.
pub struct Peer {
    /// Client address.
    pub addr: String,
    /// Proxy address the client connected to.
    pub laddr: String,
    /// Session start.
    pub since: std::time::Instant,
}

impl Peer {
    /// Reads the addresses of `stream`.
    pub fn of(stream: &glommio::net::TcpStream) -> Self {
        let show = |a: Option<std::net::SocketAddr>| {
            a.map_or_else(|| String::from("?:0"), |a| a.to_string())
        };
        Self {
            addr: show(stream.peer_addr().ok()),
            laddr: show(stream.local_addr().ok()),
            since: std::time::Instant::now(),
        }
    }
}

/// `CLIENT REPLY` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Every reply is sent.
    On,
    /// No reply is sent until `ON`.
    Off,
    /// The next command's reply is not sent.
    Skip,
}

/// The writer's filter for `CLIENT REPLY`. RESP3 pushes (Pub/Sub messages) always pass, as in
/// Redis, where pushes are not replies.
#[derive(Debug, Default)]
pub struct ReplyGate {
    off: bool,
    skip: bool,
}

impl ReplyGate {
    /// Applies a mode change, in request order.
    pub fn set(&mut self, m: ReplyMode) {
        match m {
            ReplyMode::On => (self.off, self.skip) = (false, false),
            ReplyMode::Off => self.off = true,
            ReplyMode::Skip => self.skip = !self.off,
        }
    }

    /// Whether `reply` is sent.
    pub fn pass(&mut self, reply: &[u8]) -> bool {
        if reply.first() == Some(&b'>') {
            return true;
        }
        if self.skip {
            self.skip = false;
            return false;
        }
        !self.off
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_gate() {
        let mut g = ReplyGate::default();
        assert!(g.pass(b"+OK\r\n"));
        g.set(ReplyMode::Skip);
        assert!(!g.pass(b"+OK\r\n"));
        assert!(g.pass(b"+OK\r\n"));
        g.set(ReplyMode::Off);
        assert!(!g.pass(b":1\r\n"));
        assert!(g.pass(b">3\r\n"));
        g.set(ReplyMode::On);
        assert!(g.pass(b":1\r\n"));
    }
}
