//! `INFO [section ...]`: the local backends' sections merged as one node would report them,
//! followed by the proxy's own `# Proxy` section (`proxy_`-prefixed fields, so no field name
//! clashes with Redis' and tools that look a field up by name find the backend's).
//!
//! Merging: counters (sections Clients, Memory, Stats, Keyspace, Commandstats, Errorstats)
//! are summed over the backends; every other field is the first backend's.

use super::{Pending, Session};
use crate::metrics;
use crate::resp::compose;
use crate::resp::request::Request;
use bytes::Bytes;

/// Version reported in the proxy section. why: the original's version, so tooling that checks
/// it keeps working; our own version is reported beside it.
const COMPAT_VERSION: &str = "0.6.2";

/// Sections whose integer fields are summed over the backends.
const SUMMED: [&str; 6] = [
    "clients",
    "memory",
    "stats",
    "keyspace",
    "commandstats",
    "errorstats",
];

impl Session {
    /// `INFO [section ...]`.
    pub(super) async fn info(&mut self, req: &Request) {
        let asked: Vec<String> = req
            .args()
            .skip(1)
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .collect();
        let all = asked.is_empty()
            || asked
                .iter()
                .any(|a| matches!(a.as_str(), "all" | "everything" | "default"));
        let with_proxy = all || asked.iter().any(|a| a == "proxy");
        let backend_sections = all || asked.iter().any(|a| a != "proxy");
        let proxy = if with_proxy {
            self.proxy_section()
        } else {
            String::new()
        };
        let view = self.shard.view();
        if !backend_sections || view.backends.is_empty() {
            return self.reply(text_reply(&proxy, self.resp3));
        }
        let mut parts = Vec::with_capacity(view.backends.len());
        for g in &view.backends {
            parts.push(self.send_for(g, req.wire_bytes()).await);
        }
        let resp3 = self.resp3;
        self.queue.push(Pending::Combine(
            parts,
            Box::new(move |replies: &[&[u8]]| merge_info(replies, &proxy, resp3)),
        ));
    }

    /// The `# Proxy` section.
    fn proxy_section(&self) -> String {
        let ctl = &self.shard.control;
        let view = self.shard.view();
        let mut s = format!(
            "# Proxy\r\nproxy_version:{COMPAT_VERSION}\r\nproxy_undermoon_rs_version:{}\r\n\
             proxy_process_id:{}\r\nproxy_thread_number:{}\r\nproxy_cluster_name:{}\r\n\
             proxy_epoch:{}\r\nproxy_backends:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            ctl.stats.len(),
            view.snap.name,
            view.snap.epoch,
            view.backends.len(),
        );
        let (mut open, mut total, mut cmds, mut blocked) = (0, 0, 0, 0);
        let mut per_core = String::new();
        for (i, c) in ctl.stats.iter().enumerate() {
            let (o, t, n) = (
                metrics::read(&c.connections_open),
                metrics::read(&c.connections_total),
                metrics::read(&c.commands),
            );
            blocked += metrics::read(&c.blocked);
            open += o;
            total += t;
            cmds += n;
            per_core.push_str(&format!(
                "proxy_core{i}_connected_clients:{o}\r\nproxy_core{i}_total_connections_received:{t}\r\n\
                 proxy_core{i}_total_commands_processed:{n}\r\n"
            ));
        }
        s.push_str(&format!(
            "proxy_connected_clients:{open}\r\nproxy_blocked_clients:{blocked}\r\n\
             proxy_total_connections_received:{total}\r\nproxy_total_commands_processed:{cmds}\r\n"
        ));
        s.push_str(&per_core);
        s.push_str(&metrics::info_fields(ctl));
        s
    }
}

/// A text reply: a bulk string (RESP2) or a verbatim string (RESP3), as Redis sends INFO.
fn text_reply(text: &str, resp3: bool) -> Bytes {
    let mut out = Vec::with_capacity(text.len() + 24);
    if resp3 {
        out.push(b'=');
        compose::int_digits(&mut out, text.len() as i64 + 4);
        out.extend_from_slice(b"\r\ntxt:");
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\r\n");
    } else {
        compose::bulk(&mut out, text.as_bytes());
    }
    Bytes::from(out)
}

/// The text of a bulk (`$`) or verbatim (`=`) reply.
fn payload(reply: &[u8]) -> Option<&[u8]> {
    let kind = *reply.first()?;
    if kind != b'$' && kind != b'=' {
        return None;
    }
    let nl = memchr::memchr(b'\n', reply)?;
    let body = reply.get(nl + 1..reply.len().checked_sub(2)?)?;
    if kind == b'=' {
        body.get(4..)
    } else {
        Some(body)
    }
}

/// One INFO text as sections: (name, lines).
fn sections(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.split("\r\n") {
        if let Some(name) = line.strip_prefix("# ") {
            out.push((name.to_string(), Vec::new()));
        } else if !line.is_empty() {
            if let Some((_, lines)) = out.last_mut() {
                lines.push(line.to_string());
            }
        }
    }
    out
}

/// Adds `b`'s integers into `a`: plain `field:N`, or `k=N` items of `field:k=N,k=N`.
fn add_value(a: &str, b: &str) -> String {
    if let (Ok(x), Ok(y)) = (a.parse::<i64>(), b.parse::<i64>()) {
        return x.saturating_add(y).to_string();
    }
    if !a.contains('=') {
        return a.to_string();
    }
    let theirs: Vec<(&str, &str)> = b.split(',').filter_map(|kv| kv.split_once('=')).collect();
    a.split(',')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => {
                let other = theirs.iter().find(|(k2, _)| *k2 == k).map(|(_, v)| *v);
                match (v.parse::<i64>(), other.and_then(|o| o.parse::<i64>().ok())) {
                    (Ok(x), Some(y)) if k != "avg_ttl" => format!("{k}={}", x.saturating_add(y)),
                    _ => kv.to_string(),
                }
            }
            None => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Merges the backends' INFO replies and appends the proxy section.
pub fn merge_info(replies: &[&[u8]], proxy: &str, resp3: bool) -> Bytes {
    if let Some(e) = replies.iter().find(|r| r.first() == Some(&b'-')) {
        return Bytes::copy_from_slice(e);
    }
    let mut merged: Vec<(String, Vec<String>)> = Vec::new();
    for (i, r) in replies.iter().enumerate() {
        let Some(text) = payload(r) else {
            return Bytes::from_static(b"-ERR proxy: unexpected backend INFO reply\r\n");
        };
        let text = String::from_utf8_lossy(text);
        if i == 0 {
            merged = sections(&text);
            continue;
        }
        for (name, lines) in sections(&text) {
            let summed = SUMMED.contains(&name.to_ascii_lowercase().as_str());
            let Some((_, mine)) = merged.iter_mut().find(|(n, _)| *n == name) else {
                merged.push((name, lines));
                continue;
            };
            if !summed {
                continue;
            }
            for line in lines {
                let Some((field, value)) = line.split_once(':') else {
                    continue;
                };
                let prefix = format!("{field}:");
                match mine.iter_mut().find(|l| l.starts_with(&prefix)) {
                    Some(l) => {
                        let sum = add_value(l.get(prefix.len()..).unwrap_or(""), value);
                        *l = format!("{prefix}{sum}");
                    }
                    None => mine.push(line),
                }
            }
        }
    }
    let mut text = String::new();
    for (name, lines) in merged {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        text.push_str("# ");
        text.push_str(&name);
        text.push_str("\r\n");
        for l in lines {
            text.push_str(&l);
            text.push_str("\r\n");
        }
    }
    if !proxy.is_empty() {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        text.push_str(proxy);
    }
    text_reply(&text, resp3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_counters_and_keeps_the_first_backends_fields() {
        let a = "# Server\r\nredis_version:7.0.15\r\ntcp_port:1\r\n\r\n# Stats\r\nexpired_keys:2\r\n\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=5\r\n";
        let b = "# Server\r\nredis_version:7.0.15\r\ntcp_port:2\r\n\r\n# Stats\r\nexpired_keys:3\r\n\r\n# Keyspace\r\ndb0:keys=4,expires=0,avg_ttl=0\r\n";
        let ra = text_reply(a, false);
        let rb = text_reply(b, false);
        let m = merge_info(&[&ra, &rb], "# Proxy\r\nproxy_x:1\r\n", false);
        let text = String::from_utf8_lossy(payload(&m).unwrap()).to_string();
        assert!(text.contains("tcp_port:1\r\n"), "{text}");
        assert!(text.contains("expired_keys:5\r\n"), "{text}");
        assert!(
            text.contains("db0:keys=6,expires=1,avg_ttl=5\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n# Proxy\r\nproxy_x:1\r\n"), "{text}");
        let r3 = merge_info(&[&text_reply(a, true)], "", true);
        assert!(r3.starts_with(b"="));
        assert_eq!(payload(&r3).unwrap(), a.as_bytes());
        assert_eq!(
            &merge_info(&[&ra, b"-ERR x\r\n"], "", false)[..],
            b"-ERR x\r\n"
        );
    }
}
