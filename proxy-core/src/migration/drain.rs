//! The source's per-core barrier: when a core installs a snapshot with a new migrating task,
//! it holds the range's requests from then on (`session/migrate.rs`) and sends a `PING` down
//! each of its shared connections to the source Redis. Connections are FIFO, so when every
//! PING has its reply, every request this core routed to the source before the task existed
//! has been executed, and the core counts itself drained. The task switches only after all
//! cores have.

use super::task::{Side, Task};
use crate::shard::CoreView;
use crate::sync::ReplySlot;
use bytes::Bytes;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Weak};
use std::time::Duration;

thread_local! {
    /// Tasks this core has started (or finished) draining for.
    static SEEN: RefCell<Vec<Weak<Task>>> = const { RefCell::new(Vec::new()) };
}

/// Lets a request dispatched just before the install finish queueing its bytes.
const SETTLE: Duration = Duration::from_millis(2);

/// Starts the barrier for every source task of `view` this core has not seen.
pub fn on_install(view: &Rc<CoreView>) {
    for task in &view.snap.migrations {
        if task.side != Side::Source {
            continue;
        }
        let new = SEEN.with(|s| {
            let mut s = s.borrow_mut();
            s.retain(|w| w.strong_count() > 0);
            if s.iter().any(|w| w.as_ptr() == Arc::as_ptr(task)) {
                false
            } else {
                s.push(Arc::downgrade(task));
                true
            }
        });
        if !new {
            continue;
        }
        let src = task.meta().map(|m| m.src_node_address.clone());
        let group = view
            .snap
            .local
            .iter()
            .position(|(a, _)| Some(a) == src.as_ref())
            .and_then(|i| view.backends.get(i).cloned());
        let task = task.clone();
        glommio::spawn_local(async move {
            glommio::timer::sleep(SETTLE).await;
            if let Some(g) = group {
                let slots: Vec<Rc<ReplySlot>> = g
                    .shared_conns()
                    .iter()
                    .map(|c| {
                        let s = ReplySlot::new();
                        c.send(Bytes::from_static(b"*1\r\n$4\r\nPING\r\n"), s.clone());
                        s
                    })
                    .collect();
                for s in slots {
                    s.filled().await;
                }
            }
            task.core_drained();
        })
        .detach();
    }
}
