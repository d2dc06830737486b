//! Memory bounds for one client connection: the caps `client_query_buffer_limit`,
//! `client_max_pending_replies` and `client_output_buffer_limit` (docs/configuration.md).
//!
//! The reader asks [`Session::wait_for_room`] before it parses the next request. While the
//! client has too many replies queued, or too many reply bytes ready but unwritten (it does not
//! read), the reader stops reading and parsing, so the kernel's socket buffers fill and TCP
//! pushes back on the client. A request that alone outgrows the query buffer limit closes the
//! connection, as in Redis (which closes silently; we send `-ERR Protocol error: request too
//! big` first so the client can tell why).
//!
//! What one connection can hold is then about `client_query_buffer_limit` of input plus
//! `client_output_buffer_limit` of ready output plus the replies already asked of backends
//! (at most `client_max_pending_replies` of them).

use super::{Pending, Queue, Session};
use std::cell::Cell;

/// Replies queued below which the byte count is not worth summing. why: a client that reads
/// its replies keeps a short queue, and summing costs one pass over it.
const SHORT_QUEUE: usize = 8;

/// Per-connection bookkeeping of the back-pressure check.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Requests let through since the queue's bytes were last summed.
    since_sum: Cell<u32>,
}

/// Bytes of replies ready in the queue and not yet handed to the writer.
fn queued_bytes(q: &Queue) -> usize {
    q.items
        .borrow()
        .iter()
        .map(|p| match p {
            Pending::Ready(b) | Pending::Push(b) => b.len(),
            Pending::Wait(s) | Pending::Transform(s, _) => s.held_len(),
            Pending::Merge(m) => m.parts.iter().map(|s| s.held_len()).sum(),
            Pending::Combine(parts, _) => parts.iter().map(|s| s.held_len()).sum(),
            _ => 0,
        })
        .sum()
}

impl Session {
    /// True when the read buffer holds more than `client_query_buffer_limit` bytes of
    /// incomplete request: the connection must close (counted for the metrics).
    pub(super) fn query_buffer_over(&self, buffered: usize) -> bool {
        let over = buffered > self.shard.config.client_query_buffer_limit;
        if over {
            crate::metrics::local(|s| crate::metrics::bump(&s.query_buffer_closes, 1));
        }
        over
    }

    /// Over a cap right now? The byte sum runs only every few requests once the queue is long,
    /// so a deep pipeline of small replies does not pay a pass over the queue per request.
    fn over_caps(&self, q: &Queue) -> bool {
        let cfg = &self.shard.config;
        let len = q.items.borrow().len();
        if len >= cfg.client_max_pending_replies {
            return true;
        }
        if len < SHORT_QUEUE {
            return false;
        }
        let n = q.bp.since_sum.get();
        if n < 8 {
            q.bp.since_sum.set(n + 1);
            return false;
        }
        q.bp.since_sum.set(0);
        queued_bytes(q) > cfg.client_output_buffer_limit
    }

    /// Waits until the client's queued replies are under the caps. False when the writer has
    /// closed the connection meanwhile (the reader must stop).
    pub(super) async fn wait_for_room(&self) -> bool {
        let q = &self.queue;
        let mut paused = false;
        while !q.closed.get() && self.over_caps(q) {
            if !paused {
                paused = true;
                crate::metrics::local(|s| crate::metrics::bump(&s.client_pauses, 1));
            }
            q.space.notified().await;
            // why: after a pause, re-sum at the next check rather than 8 requests later.
            q.bp.since_sum.set(8);
        }
        !q.closed.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::ReplySlot;
    use bytes::Bytes;

    #[test]
    fn counts_only_replies_that_are_held() {
        let q = Queue::default();
        q.push(Pending::Ready(Bytes::from_static(b"+OK\r\n")));
        let waiting = ReplySlot::new();
        q.push(Pending::Wait(waiting.clone()));
        let filled = ReplySlot::new();
        filled.fill(Bytes::from(vec![b'x'; 100]));
        q.push(Pending::Wait(filled.clone()));
        q.push(Pending::Close);
        assert_eq!(queued_bytes(&q), 5 + 100);
        waiting.fill(Bytes::from(vec![b'y'; 10]));
        assert_eq!(queued_bytes(&q), 5 + 100 + 10);
    }
}
