//! Single-core wake-up primitives. Each core runs one thread, so these use `Rc`/`Cell` and no
//! atomics: a reply slot (one value, one waiter) and a notification flag.

use bytes::Bytes;
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// Where a backend reply lands: filled once by the backend reader, awaited by the session
/// writer. Every path that drops a request fills its slot with an error reply first.
#[derive(Debug, Default)]
pub struct ReplySlot {
    value: RefCell<Option<Bytes>>,
    /// Stays true after the writer took the value.
    done: Cell<bool>,
    /// The writer, and a session waiting for its earlier replies before it switches
    /// connections (see `session::owned`). why: a `Vec`, as two tasks may wait.
    wakers: RefCell<Vec<Waker>>,
}

impl ReplySlot {
    /// A new empty slot.
    pub fn new() -> Rc<Self> {
        Rc::new(Self::default())
    }

    /// Stores the reply and wakes the waiter. A second fill is ignored.
    pub fn fill(&self, reply: Bytes) {
        {
            let mut v = self.value.borrow_mut();
            if v.is_some() {
                return;
            }
            *v = Some(reply);
        }
        self.done.set(true);
        for w in std::mem::take(&mut *self.wakers.borrow_mut()) {
            w.wake();
        }
    }

    fn register(&self, w: &Waker) {
        let mut ws = self.wakers.borrow_mut();
        if !ws.iter().any(|x| x.will_wake(w)) {
            ws.push(w.clone());
        }
    }

    /// Bytes of the reply held, 0 before it arrives and after the writer took it.
    pub fn held_len(&self) -> usize {
        self.value.borrow().as_ref().map_or(0, Bytes::len)
    }

    /// True once filled (also after the value was taken).
    pub fn is_filled(&self) -> bool {
        self.done.get()
    }

    /// Waits until filled, leaving the reply in place.
    pub async fn filled(&self) {
        poll_fn(|cx| {
            if self.done.get() {
                Poll::Ready(())
            } else {
                self.register(cx.waker());
                Poll::Pending
            }
        })
        .await
    }

    /// Waits for the reply.
    pub async fn wait(&self) -> Bytes {
        poll_fn(|cx| match self.value.borrow_mut().take() {
            Some(v) => Poll::Ready(v),
            None => {
                self.register(cx.waker());
                Poll::Pending
            }
        })
        .await
    }
}

/// A level-triggered wake-up for one waiting task.
#[derive(Debug, Default)]
pub struct Notify {
    flag: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Notify {
    /// Sets the flag and wakes the waiter.
    pub fn notify(&self) {
        self.flag.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Waits until notified, then clears the flag.
    pub async fn notified(&self) {
        poll_fn(|cx| {
            if self.flag.replace(false) {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_and_notify() {
        glommio::LocalExecutor::default().run(async {
            let s = ReplySlot::new();
            let s2 = s.clone();
            let t = glommio::spawn_local(async move { s2.wait().await });
            s.fill(Bytes::from_static(b"+OK\r\n"));
            s.fill(Bytes::from_static(b"+NO\r\n"));
            assert_eq!(&t.await[..], b"+OK\r\n");
            let n = Rc::new(Notify::default());
            n.notify();
            n.notified().await;
        });
    }
}
