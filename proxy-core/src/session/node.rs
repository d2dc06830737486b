//! Node-level keyless commands, answered for this proxy's local backends the way one Redis
//! Cluster node answers for its own keyspace: sent to every local backend and merged
//! ([`super::merge`]), or sent to one of them when any one answers for all.
//!
//! `SCAN` walks the backends one after another. Its cursor carries the backend index in its
//! low 8 bits and the backend's own cursor above them, so it stays a plain number to clients.

use super::eq;
use super::merge::MergeKind;
use super::split::Merge;
use super::{Pending, Session};
use crate::errors::fixed;
use crate::resp::request::Request;
use crate::resp::{compose, reply, Limits};
use bytes::Bytes;

/// Bits of a SCAN cursor that hold the backend index. why: 8 bits = 256 local backends,
/// far above the 2 per proxy a deployment uses, and leaves 56 bits for Redis' own cursor.
const SCAN_INDEX_BITS: u32 = 8;

impl Session {
    /// DBSIZE, KEYS, SCAN, RANDOMKEY, FLUSHALL, FLUSHDB, TIME, LASTSAVE, SCRIPT, FUNCTION,
    /// DEBUG, SAVE, BGSAVE, BGREWRITEAOF, LATENCY, LOLWUT.
    pub(super) async fn node(&mut self, req: &Request) {
        if self.shard.view().backends.is_empty() {
            return self.reply_static(fixed::CLUSTER_NOT_FOUND);
        }
        let name = req.arg(0);
        let sub = req.arg(1);
        let bytes = req.wire_bytes();
        if eq(name, "publish") {
            self.publish(req).await
        } else if eq(name, "pubsub") {
            self.pubsub(req).await
        } else if eq(name, "dbsize") {
            self.fan_out(bytes, MergeKind::Sum).await
        } else if eq(name, "keys") {
            self.fan_out(bytes, MergeKind::Concat).await
        } else if eq(name, "randomkey") {
            self.fan_out(bytes, MergeKind::FirstNonNil).await
        } else if eq(name, "flushall") || eq(name, "flushdb") {
            self.fan_out(bytes, MergeKind::Same).await
        } else if eq(name, "scan") {
            self.scan(req).await
        } else if eq(name, "script") && (eq(sub, "load") || eq(sub, "flush")) {
            self.fan_out(bytes, MergeKind::Same).await
        } else if (eq(name, "script") || eq(name, "function")) && eq(sub, "kill") {
            self.kill_scripts(bytes)
        } else if eq(name, "script") && eq(sub, "exists") {
            self.fan_out(bytes, MergeKind::AndArray).await
        } else if eq(name, "function")
            && (eq(sub, "load") || eq(sub, "delete") || eq(sub, "flush") || eq(sub, "restore"))
        {
            self.fan_out(bytes, MergeKind::Same).await
        } else if eq(name, "debug") {
            self.debug(req).await
        } else if eq(name, "save") || eq(name, "bgsave") || eq(name, "bgrewriteaof") {
            self.fan_out(bytes, MergeKind::Same).await
        } else if eq(name, "latency") && eq(sub, "reset") {
            self.fan_out(bytes, MergeKind::Sum).await
        } else {
            // TIME, LASTSAVE, SCRIPT/FUNCTION reads, LATENCY reads, LOLWUT: any backend
            // answers.
            self.send_to_any(bytes).await
        }
    }

    /// Sends `bytes` to every local backend and queues the merged reply.
    pub(super) async fn fan_out(&mut self, bytes: Bytes, kind: MergeKind) {
        let view = self.shard.view();
        let mut parts = Vec::with_capacity(view.backends.len());
        for g in &view.backends {
            parts.push(self.send_for(g, bytes.clone()).await);
        }
        self.queue.push(Pending::Merge(Box::new(Merge {
            kind,
            parts,
            pos: Vec::new(),
            total: 0,
            decode: false,
        })));
    }

    /// `SCRIPT KILL`/`FUNCTION KILL` on a fresh connection to every local backend. why: the
    /// busy script may sit on this session's shared connection (sent by another session), and
    /// a KILL queued behind it on that FIFO connection would never run.
    fn kill_scripts(&mut self, bytes: Bytes) {
        let view = self.shard.view();
        let mut parts = Vec::with_capacity(view.backends.len());
        for g in &view.backends {
            let conn = g.dedicated(self.resp3);
            let slot = crate::sync::ReplySlot::new();
            conn.send(bytes.clone(), slot.clone());
            let done = slot.clone();
            glommio::spawn_local(async move {
                done.filled().await;
                conn.close();
            })
            .detach();
            parts.push(slot);
        }
        self.queue.push(Pending::Merge(Box::new(Merge {
            kind: MergeKind::AnyOk,
            parts,
            pos: Vec::new(),
            total: 0,
            decode: false,
        })));
    }

    /// Sends `bytes` to the first local backend.
    pub(super) async fn send_to_any(&mut self, bytes: Bytes) {
        let view = self.shard.view();
        match view.backends.first() {
            Some(g) => self.forward_to(g, bytes, false).await,
            None => self.reply_static(fixed::CLUSTER_NOT_FOUND),
        }
    }

    /// `DEBUG`: sub-commands about a key go to its owner; the others (SLEEP, RELOAD,
    /// SET-ACTIVE-EXPIRE, QUICKLIST-PACKED-THRESHOLD, ...) to every local backend, which must
    /// agree.
    async fn debug(&mut self, req: &Request) {
        const KEYED: [&str; 6] = [
            "object",
            "digest-value",
            "listpack",
            "quicklist",
            "ziplist",
            "stringmatch-len",
        ];
        let sub = req.arg(1);
        if !KEYED.iter().any(|k| eq(sub, k)) {
            return self.fan_out(req.wire_bytes(), MergeKind::Same).await;
        }
        let keys = crate::command::Keys::Range {
            first: 2,
            last: if eq(sub, "digest-value") { -1 } else { 2 },
            step: 1,
        };
        let view = self.shard.view();
        match crate::route::route(&view.snap, req, keys) {
            crate::route::Route::Local { backend, .. } => {
                match view.backends.get(usize::from(backend)) {
                    Some(g) => self.forward_to(g, req.wire_bytes(), false).await,
                    None => self.error("ERR internal: backend missing"),
                }
            }
            other => self.reply_route_error(other, req),
        }
    }

    async fn scan(&mut self, req: &Request) {
        let view = self.shard.view();
        let n = view.backends.len();
        let cursor = req
            .arg(1)
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse::<u64>().ok());
        let Some(cursor) = cursor else {
            return self.error("ERR invalid cursor");
        };
        let idx = (cursor & ((1 << SCAN_INDEX_BITS) - 1)) as usize;
        let Some(group) = view.backends.get(idx) else {
            return self.error("ERR invalid cursor");
        };
        let mut out = Vec::with_capacity(req.frame.len() + 24);
        compose::array_header(&mut out, req.len());
        compose::bulk(&mut out, b"SCAN");
        compose::bulk(&mut out, (cursor >> SCAN_INDEX_BITS).to_string().as_bytes());
        for a in req.args().skip(2) {
            compose::bulk(&mut out, a);
        }
        let slot = self.send_for(group, Bytes::from(out)).await;
        self.queue.push(Pending::Transform(
            slot,
            Box::new(move |r| scan_reply(r, idx, n)),
        ));
    }
}

/// Rewrites backend `idx`'s SCAN reply with the proxy cursor (next backend when it is done).
fn scan_reply(r: &[u8], idx: usize, n: usize) -> Bytes {
    let Some(elems) = reply::array_elements(r, &Limits::REPLY) else {
        return Bytes::copy_from_slice(r);
    };
    let (Some(&(cs, ce)), Some(&(ks, ke))) = (elems.first(), elems.get(1)) else {
        return Bytes::copy_from_slice(r);
    };
    let backend_cursor = r
        .get(cs..ce)
        .and_then(|b| b.strip_prefix(b"$"))
        .and_then(|b| {
            let nl = memchr::memchr(b'\n', b)?;
            b.get(nl + 1..b.len().checked_sub(2)?)
        })
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse::<u64>().ok());
    let Some(bc) = backend_cursor else {
        return Bytes::from_static(b"-ERR proxy: unexpected backend SCAN reply\r\n");
    };
    let next = if bc == 0 {
        if idx + 1 < n {
            (idx + 1) as u64
        } else {
            0
        }
    } else if bc >> (64 - SCAN_INDEX_BITS) != 0 {
        return Bytes::from_static(b"-ERR proxy: backend SCAN cursor too large\r\n");
    } else {
        (bc << SCAN_INDEX_BITS) | idx as u64
    };
    let mut out = Vec::with_capacity(r.len() + 8);
    compose::array_header(&mut out, 2);
    compose::bulk(&mut out, next.to_string().as_bytes());
    out.extend_from_slice(r.get(ks..ke).unwrap_or(b"*0\r\n"));
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_cursors() {
        let r = b"*2\r\n$2\r\n17\r\n*1\r\n$1\r\nk\r\n";
        assert_eq!(
            &scan_reply(r, 1, 2)[..],
            b"*2\r\n$4\r\n4353\r\n*1\r\n$1\r\nk\r\n"
        );
        let done = b"*2\r\n$1\r\n0\r\n*0\r\n";
        assert_eq!(&scan_reply(done, 0, 2)[..], b"*2\r\n$1\r\n1\r\n*0\r\n");
        assert_eq!(&scan_reply(done, 1, 2)[..], b"*2\r\n$1\r\n0\r\n*0\r\n");
        assert_eq!(&scan_reply(b"-ERR x\r\n", 0, 2)[..], b"-ERR x\r\n");
    }
}
