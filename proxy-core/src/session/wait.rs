//! `WAIT numreplicas timeout` through the proxy: the session's earlier writes went to its local
//! backends over shared connections, so the proxy asks each backend on a fresh connection and
//! answers the smallest count.
//!
//! Redis counts replicas for the replication offset of the *calling connection's* last
//! propagated write, and a fresh connection has none. So, once every earlier reply of the
//! session has arrived (its writes are in each backend's replication stream), the fresh
//! connection first publishes on a marker channel nobody subscribes to: PUBLISH is propagated
//! to replicas by a non-cluster Redis, which sets the connection's offset past the session's
//! writes. Its WAIT then waits for what the session's own would have (plus a few bytes).
//!
//! ```text
//!  client: SET k v; WAIT 1 100
//!  proxy:  drain ── per local backend, new conn: PUBLISH __undermoon__:wait "" ; WAIT 1 100
//!          reply = min over backends
//! ```

use super::merge::MergeKind;
use super::split::Merge;
use super::{Pending, Session};
use crate::errors::fixed;
use crate::resp::request::Request;
use crate::sync::ReplySlot;
use bytes::Bytes;
use std::rc::Rc;
use std::time::Duration;

/// Published before each WAIT. why: any propagated write moves the connection's offset; a
/// publish on a channel of our own changes no data.
const MARKER: &[u8] = b"*3\r\n$7\r\nPUBLISH\r\n$18\r\n__undermoon__:wait\r\n$0\r\n\r\n";
/// How often a WAIT connection checks that its session still exists. why: `WAIT n 0` waits
/// forever; a client that went away must not leave the connection behind.
const ORPHAN_CHECK: Duration = Duration::from_secs(1);

impl Session {
    /// `WAIT numreplicas timeout`.
    pub(super) async fn wait_replicas(&mut self, req: &Request) {
        if req.len() != 3 {
            return self.error("ERR wrong number of arguments for 'wait' command");
        }
        let view = self.shard.view();
        if view.backends.is_empty() {
            return self.reply_static(fixed::CLUSTER_NOT_FOUND);
        }
        // why: the writes WAIT is about must have run before the marker does.
        self.drain().await;
        let wait = req.wire_bytes();
        let mut parts = Vec::with_capacity(view.backends.len());
        for g in &view.backends {
            let conn = g.dedicated(self.resp3);
            conn.send(Bytes::from_static(MARKER), ReplySlot::new());
            let slot = ReplySlot::new();
            conn.send(wait.clone(), slot.clone());
            let (done, queue) = (slot.clone(), Rc::clone(&self.queue));
            glommio::spawn_local(async move {
                loop {
                    let filled = futures_lite::future::or(
                        async {
                            done.filled().await;
                            true
                        },
                        async {
                            glommio::timer::sleep(ORPHAN_CHECK).await;
                            false
                        },
                    )
                    .await;
                    if filled || queue.closed.get() {
                        break;
                    }
                }
                conn.close();
            })
            .detach();
            parts.push(slot);
        }
        self.queue.push(Pending::Merge(Box::new(Merge {
            kind: MergeKind::Min,
            parts,
            pos: Vec::new(),
            total: 0,
            decode: false,
        })));
    }
}

#[cfg(test)]
mod tests {
    use super::MARKER;
    use crate::resp::request::{parse, Request};
    use crate::resp::Limits;

    #[test]
    fn the_marker_is_one_well_formed_publish() {
        let parsed = parse(MARKER, &Limits::REQUEST).unwrap().unwrap();
        let req = Request::new(bytes::Bytes::from_static(MARKER), parsed);
        let args: Vec<&[u8]> = req.args().collect();
        assert_eq!(args, [&b"PUBLISH"[..], b"__undermoon__:wait", b""]);
        assert_eq!(req.wire_bytes().len(), MARKER.len());
    }
}
