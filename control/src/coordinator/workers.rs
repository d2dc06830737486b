//! A fixed pool of plain threads fed by a `crossbeam-channel` queue. The loops hand it one job
//! per proxy and wait for all of them, so a round calls `thread_number` proxies at once and a
//! slow proxy (bounded by `proxy_timeout`) delays only its own job.

use crossbeam_channel::{unbounded, Sender};
use std::sync::Arc;

type Job = Box<dyn FnOnce() + Send>;

/// The pool; cheap to clone.
#[derive(Clone)]
pub struct Workers {
    tx: Sender<Job>,
}

impl Workers {
    /// Starts `n` (at least 1) worker threads.
    pub fn new(n: usize) -> Self {
        let (tx, rx) = unbounded::<Job>();
        for i in 0..n.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("coord-worker-{i}"))
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                });
            if let Err(e) = spawned {
                log::error!("cannot start worker thread: {e}");
            }
        }
        Self { tx }
    }

    /// Runs `f` on every item in the pool and returns the results in item order. Items whose
    /// job could not run (no worker left) are missing from the result.
    pub fn map<T, R, F>(&self, items: Vec<T>, f: F) -> Vec<R>
    where
        T: Send + 'static,
        R: Send + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let (rtx, rrx) = unbounded();
        let n = items.len();
        for (i, item) in items.into_iter().enumerate() {
            let f = f.clone();
            let rtx = rtx.clone();
            let job: Job = Box::new(move || {
                let _ = rtx.send((i, f(item)));
            });
            if self.tx.send(job).is_err() {
                log::error!("worker pool is gone");
            }
        }
        drop(rtx);
        // why: every job owns a sender, so this ends once all jobs ran or were dropped.
        let mut out: Vec<(usize, R)> = rrx.iter().take(n).collect();
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, r)| r).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keeps_order_and_runs_in_parallel() {
        let w = Workers::new(4);
        let start = std::time::Instant::now();
        let out = w.map((0..8).collect(), |i: u64| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            i * 2
        });
        assert_eq!(out, vec![0, 2, 4, 6, 8, 10, 12, 14]);
        assert!(start.elapsed() < std::time::Duration::from_millis(700));
    }
}
