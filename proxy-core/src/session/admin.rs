//! Commands the proxy answers itself: PING, ECHO, SELECT, QUIT, ASKING/READONLY/READWRITE,
//! CLUSTER, INFO, CONFIG, COMMAND, AUTH, HELLO (UMCTL is in [`super::umctl`]).

use super::eq;
use super::{Pending, Session};
use crate::cluster_reply::{self, node_id};
use crate::command::{lookup, Kind, ProxyCmd};
use crate::errors::{fixed, Disposition};
use crate::resp::request::Request;
use crate::resp::{compose, reply, Limits};
use crate::slot::key_slot;
use crate::sync::ReplySlot;
use bytes::Bytes;
use std::sync::atomic::Ordering;

fn bulk(data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 16);
    compose::bulk(&mut out, data);
    Bytes::from(out)
}

impl Session {
    pub(super) async fn admin(&mut self, cmd: ProxyCmd, req: &Request) -> Disposition {
        match cmd {
            // why: a backend's PING reply tells the client what Redis' would (BUSY while a
            // script runs, LOADING); without a backend the proxy answers for itself.
            ProxyCmd::Ping if !self.shard.view().backends.is_empty() => {
                self.send_to_any(req.wire_bytes()).await
            }
            ProxyCmd::Ping => match (req.arg(1), req.arg(2)) {
                (None, _) => self.reply_static(fixed::PONG),
                (Some(msg), None) => self.reply(bulk(msg)),
                _ => self.error("ERR wrong number of arguments for 'ping' command"),
            },
            ProxyCmd::Echo => match req.arg(1) {
                None => self.reply_static(fixed::MISSING_MESSAGE),
                Some(msg) => self.reply(bulk(msg)),
            },
            ProxyCmd::Select => match req.arg(1) {
                Some(b"0") => self.reply_static(fixed::OK),
                Some(_) => self.error("ERR SELECT is not allowed in cluster mode"),
                None => self.error("ERR wrong number of arguments for 'select' command"),
            },
            ProxyCmd::Quit => {
                self.reply_static(fixed::OK);
                return Disposition::Close;
            }
            ProxyCmd::Ok => self.reply_static(fixed::OK),
            ProxyCmd::Hello => self.hello(req).await,
            ProxyCmd::Auth => self.auth(req),
            ProxyCmd::Multi => self.multi().await,
            // Outside a transaction (inside one, `super::multi` answers them).
            ProxyCmd::Exec => self.error("ERR EXEC without MULTI"),
            ProxyCmd::Discard => self.error("ERR DISCARD without MULTI"),
            ProxyCmd::Watch => self.watch_cmd(req).await,
            ProxyCmd::Unwatch => self.unwatch(req).await,
            // why: pausing is node-wide: every local backend pauses, as one node would.
            ProxyCmd::Client
                if super::pause::is_pause_cmd(req) && !self.shard.view().backends.is_empty() =>
            {
                super::pause::note(&self.shard.control, req);
                self.fan_out(req.wire_bytes(), super::merge::MergeKind::Same)
                    .await
            }
            ProxyCmd::Client if eq(req.arg(1), "tracking") => self.client_tracking(req).await,
            ProxyCmd::Client if eq(req.arg(1), "getredir") => self.client_getredir(),
            // Outside tracking, the backend's answer for an untracked connection.
            ProxyCmd::Client
                if (eq(req.arg(1), "caching") || eq(req.arg(1), "trackinginfo"))
                    && !self.shard.view().backends.is_empty() =>
            {
                self.send_to_any(req.wire_bytes()).await
            }
            ProxyCmd::Client => self.client(req),
            ProxyCmd::Reset => self.reset().await,
            ProxyCmd::Node => self.node(req).await,
            ProxyCmd::Wait => self.wait_replicas(req).await,
            ProxyCmd::Relay => self.relay_start(req).await,
            ProxyCmd::Cluster => self.cluster(req),
            ProxyCmd::Info => self.info(req).await,
            ProxyCmd::Config => self.config(req).await,
            ProxyCmd::Command => self.command(req),
            // why: GETEPOCH stays open: the broker probes epochs (recovery, auto-scaling) without
            // a secret, and an epoch number tells nothing worth guarding.
            ProxyCmd::Umctl if !self.control_authed && !eq(req.arg(1), "getepoch") => {
                self.reply_static(fixed::NEED_AUTH)
            }
            ProxyCmd::Umctl if eq(req.arg(1), "slowlog") => self.slowlog(req, 2, true),
            ProxyCmd::Slowlog => self.slowlog(req, 1, false),
            ProxyCmd::Umctl => return self.umctl(req).await,
            ProxyCmd::Umforward => self.umforward(req).await,
            ProxyCmd::Umpublish => self.umpublish(req).await,
        }
        Disposition::Keep
    }

    /// `SLOWLOG GET [n] | LEN | RESET` (Redis' shapes) and `UMCTL SLOWLOG GET [n] | RESET`
    /// (the original's); `at` is the index of the sub-command.
    fn slowlog(&self, req: &Request, at: usize, umctl: bool) {
        let log = &self.shard.control.slowlog;
        let sub = req.arg(at);
        if eq(sub, "get") {
            let n = match req.arg(at + 1) {
                None if umctl => Some(usize::MAX),
                // why: Redis' default count.
                None => Some(10),
                Some(n) => std::str::from_utf8(n)
                    .ok()
                    .and_then(|n| n.parse::<i64>().ok())
                    .map(|n| if n < 0 { usize::MAX } else { n as usize }),
            };
            match n {
                Some(n) if umctl => self.reply(Bytes::from(log.umctl_reply(n))),
                Some(n) => self.reply(Bytes::from(log.get_reply(n))),
                None => self.error("ERR value is out of range, must be positive"),
            }
        } else if eq(sub, "reset") {
            log.reset();
            self.reply_static(fixed::OK);
        } else if eq(sub, "len") && !umctl {
            let mut out = Vec::new();
            compose::integer(&mut out, log.len() as i64);
            self.reply(Bytes::from(out));
        } else {
            self.error("ERR unknown SLOWLOG subcommand; try GET, LEN or RESET");
        }
    }

    fn cluster(&self, req: &Request) {
        let view = self.shard.view();
        let snap = &view.snap;
        let announce = self.shard.config.announce_address.as_str();
        let sub = req.arg(1);
        if sub.is_none() {
            return self.reply_static(fixed::MISSING_SUB);
        }
        if eq(sub, "nodes") {
            let text = cluster_reply::nodes(snap, announce, self.shard.config.nodes_version());
            self.reply(bulk(text.as_bytes()));
        } else if eq(sub, "slots") {
            self.reply(Bytes::from(cluster_reply::slots(snap, announce)));
        } else if eq(sub, "keyslot") {
            match req.arg(2) {
                None => self.reply_static(fixed::MISSING_KEY_UPPER),
                Some(key) => {
                    let mut out = Vec::new();
                    compose::integer(&mut out, i64::from(key_slot(key)));
                    self.reply(Bytes::from(out));
                }
            }
        } else if eq(sub, "info") {
            self.reply(bulk(cluster_reply::info(snap).as_bytes()));
        } else if eq(sub, "myid") {
            self.reply(bulk(node_id(snap.name.as_str(), announce).as_bytes()));
        } else {
            self.reply_static(fixed::UNSUPPORTED_SUB);
        }
    }

    /// `CONFIG GET|SET` of a proxy field (the spec's underscore names) is answered here; any
    /// other parameter belongs to the backends: GET asks one, SET and RESETSTAT go to every
    /// local backend and succeed only if all do.
    async fn config(&mut self, req: &Request) {
        let cfg = &self.shard.config;
        let ctl = &self.shard.control;
        let sub = req.arg(1);
        let field = req
            .arg(2)
            .map(|f| String::from_utf8_lossy(f).to_ascii_lowercase());
        if eq(sub, "get") {
            let Some(field) = field else {
                return self.error("ERR wrong number of arguments for 'config|get' command");
            };
            let value = match field.as_str() {
                "address" => cfg.address.clone(),
                "announce_address" => cfg.announce_address.clone(),
                "announce_host" => crate::snapshot::host_of(&cfg.announce_address).to_string(),
                "slowlog_len" => cfg.slowlog_len.to_string(),
                "thread_number" => ctl.stats.len().to_string(),
                "backend_conn_num" => cfg.backend_conn_num.to_string(),
                "slowlog_log_slower_than" => ctl
                    .slowlog_log_slower_than
                    .load(Ordering::Relaxed)
                    .to_string(),
                "slowlog_sample_rate" => {
                    ctl.slowlog_sample_rate.load(Ordering::Relaxed).to_string()
                }
                "active_redirection" => cfg.active_redirection.to_string(),
                "max_redirections" => cfg
                    .max_redirections
                    .map_or("none".to_string(), |m| m.to_string()),
                _ if self.shard.view().backends.is_empty() => {
                    let msg = format!("config field {field} not found");
                    return self.error(&msg);
                }
                _ => return self.send_to_any(req.wire_bytes()).await,
            };
            let mut out = Vec::new();
            if self.resp3 {
                out.extend_from_slice(b"%1\r\n");
            } else {
                compose::array_header(&mut out, 2);
            }
            compose::bulk(&mut out, field.as_bytes());
            compose::bulk(&mut out, value.as_bytes());
            self.reply(Bytes::from(out));
        } else if eq(sub, "set") {
            let value = req.arg(3).and_then(|v| std::str::from_utf8(v).ok());
            let (Some(field), Some(value)) = (field, value) else {
                return self.error("InvalidValue");
            };
            match field.as_str() {
                "slowlog_log_slower_than" => match value.parse::<i64>() {
                    Ok(v) => {
                        ctl.slowlog_log_slower_than.store(v, Ordering::Relaxed);
                        self.reply_static(fixed::OK)
                    }
                    Err(_) => self.error("InvalidValue"),
                },
                "slowlog_sample_rate" => match value.parse::<u64>() {
                    Ok(v) => {
                        ctl.slowlog_sample_rate.store(v, Ordering::Relaxed);
                        self.reply_static(fixed::OK)
                    }
                    Err(_) => self.error("InvalidValue"),
                },
                "address" | "announce_address" | "announce_host" | "slowlog_len"
                | "thread_number" | "backend_conn_num" | "active_redirection"
                | "max_redirections" | "password" => self.error("ReadonlyField"),
                _ if self.shard.view().backends.is_empty() => self.error("FieldNotFound"),
                _ => {
                    self.fan_out(req.wire_bytes(), super::merge::MergeKind::Same)
                        .await
                }
            }
        } else if eq(sub, "resetstat") && !self.shard.view().backends.is_empty() {
            self.fan_out(req.wire_bytes(), super::merge::MergeKind::Same)
                .await
        } else if !self.shard.view().backends.is_empty() {
            // why: REWRITE, HELP and unknown sub-commands get Redis' own answer.
            self.send_to_any(req.wire_bytes()).await
        } else {
            self.error("invalid config sub-command");
        }
    }

    /// `COMMAND [INFO|COUNT|LIST|DOCS|GETKEYS|GETKEYSANDFLAGS]`: a backend's answer, with the
    /// commands the proxy does not serve left out of the listings.
    fn command(&self, req: &Request) {
        let sub = req.arg(1);
        let (bytes, rewrite): (Bytes, super::Rewrite) = if sub.is_none() || eq(sub, "info") {
            (req.wire_bytes(), Box::new(filter_command_reply))
        } else if eq(sub, "count") {
            (
                Bytes::from_static(b"*1\r\n$7\r\nCOMMAND\r\n"),
                Box::new(|r: &[u8]| {
                    let n = reply::array_elements(&filter_command_reply(r), &Limits::REPLY)
                        .map_or(0, |e| e.len());
                    let mut out = Vec::new();
                    compose::integer(&mut out, n as i64);
                    Bytes::from(out)
                }),
            )
        } else if eq(sub, "list") {
            (req.wire_bytes(), Box::new(filter_name_list))
        } else if eq(sub, "docs") || eq(sub, "getkeys") || eq(sub, "getkeysandflags") {
            (req.wire_bytes(), Box::new(Bytes::copy_from_slice))
        } else {
            return self.error("ERR unknown COMMAND subcommand");
        };
        let view = self.shard.view();
        let conn = view
            .backends
            .first()
            .and_then(|g| g.for_session(self.id, self.resp3));
        match conn {
            None => self.reply_static(fixed::CLUSTER_NOT_FOUND),
            Some(conn) => {
                let slot = ReplySlot::new();
                conn.send(bytes, slot.clone());
                self.queue.push(Pending::Transform(slot, rewrite));
            }
        }
    }
}

/// Keeps the names the proxy serves in a `COMMAND LIST` reply.
fn filter_name_list(reply_bytes: &[u8]) -> Bytes {
    let Some(elems) = reply::array_elements(reply_bytes, &Limits::REPLY) else {
        return Bytes::copy_from_slice(reply_bytes);
    };
    let kept: Vec<&[u8]> = elems
        .iter()
        .filter_map(|&(s, e)| reply_bytes.get(s..e))
        .filter(|el| bulk_payload(el).is_some_and(served))
        .collect();
    let mut out = Vec::with_capacity(reply_bytes.len());
    compose::array_header(&mut out, kept.len());
    for k in kept {
        out.extend_from_slice(k);
    }
    Bytes::from(out)
}

/// Drops from a `COMMAND` reply the entries of commands the proxy does not serve, keeping
/// nil entries (unknown names in `COMMAND INFO`) and passing non-array replies (errors) on.
pub fn filter_command_reply(reply_bytes: &[u8]) -> Bytes {
    let Some(elems) = reply::array_elements(reply_bytes, &Limits::REPLY) else {
        return Bytes::copy_from_slice(reply_bytes);
    };
    let kept: Vec<&[u8]> = elems
        .iter()
        .filter_map(|&(s, e)| reply_bytes.get(s..e))
        .filter(|el| {
            let name = reply::array_elements(el, &Limits::REPLY)
                .and_then(|parts| parts.first().copied())
                .and_then(|(s, e)| el.get(s..e))
                .and_then(bulk_payload);
            match name {
                None => true,
                Some(n) => served(n),
            }
        })
        .collect();
    let mut out = Vec::with_capacity(reply_bytes.len());
    compose::array_header(&mut out, kept.len());
    for k in kept {
        out.extend_from_slice(k);
    }
    Bytes::from(out)
}

/// Whether the proxy serves command `name`; a sub-command (`config|get`, Redis' listing
/// name) is listed with its parent, as Redis lists it.
fn served(name: &[u8]) -> bool {
    let parent = name.split(|&b| b == b'|').next().unwrap_or(name);
    matches!(
        lookup(parent),
        Some(Kind::Data(_) | Kind::Blocking(_) | Kind::Proxy(_))
    )
}

fn bulk_payload(b: &[u8]) -> Option<&[u8]> {
    let rest = b.strip_prefix(b"$")?;
    let nl = memchr::memchr(b'\r', rest)?;
    let start = nl + 2;
    let end = b.len().checked_sub(3)?;
    rest.get(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_filter() {
        let r = b"*3\r\n*2\r\n$3\r\nget\r\n:2\r\n*2\r\n$3\r\nacl\r\n:2\r\n*-1\r\n";
        assert_eq!(
            &filter_command_reply(r)[..],
            b"*2\r\n*2\r\n$3\r\nget\r\n:2\r\n*-1\r\n"
        );
        assert_eq!(&filter_command_reply(b"-ERR x\r\n")[..], b"-ERR x\r\n");
        let list = b"*3\r\n$11\r\nclient|list\r\n$10\r\nacl|whoami\r\n$3\r\nset\r\n";
        assert_eq!(
            &filter_name_list(list)[..],
            b"*2\r\n$11\r\nclient|list\r\n$3\r\nset\r\n"
        );
    }
}
