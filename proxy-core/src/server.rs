//! Process start: one glommio executor per core, each pinned to one CPU of the inherited
//! affinity, each with its own SO_REUSEPORT listener (glommio's `TcpListener::bind` sets
//! SO_REUSEPORT) accepting its own connections, plus a full mesh of shared channels for
//! snapshot broadcast.

use crate::config::ProxyConfig;
use crate::shard::{Control, Shard, SnapshotMsg};
use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use glommio::net::TcpListener;
use glommio::{LocalExecutorBuilder, Placement};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// io_uring registered buffer per executor. why: the proxy does no file I/O; glommio's
/// 10 MiB default would hit an 8 MiB `ulimit -l` as soon as two proxies share a machine.
const IO_MEMORY: usize = 256 * 1024;
/// Ring depth. why: network I/O is submitted in small batches; 128 is glommio's default.
const RING_DEPTH: usize = 128;
/// Queue of snapshot messages between two cores. why: SETCLUSTER is rare; a full queue
/// means a core is stuck, and the sender then logs instead of waiting.
const MESH_QUEUE: usize = 64;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// An executor could not be created.
    #[error("cannot start executor {core}: {msg}")]
    Executor {
        /// Core index.
        core: usize,
        /// glommio's message.
        msg: String,
    },
}

/// CPUs this process may run on (`Cpus_allowed_list` of `/proc/self/status`), in order.
pub fn allowed_cpus() -> Vec<usize> {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let list = text
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("")
        .trim();
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
            cpus.extend(a..=b.min(a + 4096));
        }
    }
    if cpus.is_empty() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        cpus.extend(0..n);
    }
    cpus
}

/// Runs the proxy until the process exits.
///
/// # Errors
/// An executor that cannot start. A listener that cannot bind ends the process with status 1.
pub fn run(config: ProxyConfig) -> Result<(), ServerError> {
    let cpus = allowed_cpus();
    let n = config.thread_number.unwrap_or(cpus.len()).max(1);
    let config = Arc::new(config);
    let control = Control::new(&config, n);
    if let Some(addr) = config.metrics_address.as_deref() {
        let ctl = control.clone();
        match control::metrics::serve(addr, move || crate::metrics::exposition(&ctl)) {
            Ok(m) => log::info!("server_proxy: metrics on http://{}/metrics", m.local_addr()),
            Err(e) => {
                eprintln!("server_proxy: cannot serve metrics on {addr}: {e}");
                std::process::exit(1);
            }
        }
    }

    let mut senders: Vec<Vec<SharedSender<SnapshotMsg>>> = (0..n).map(|_| Vec::new()).collect();
    let mut receivers: Vec<Vec<SharedReceiver<SnapshotMsg>>> = (0..n).map(|_| Vec::new()).collect();
    for (i, tx_list) in senders.iter_mut().enumerate() {
        for (j, rx_list) in receivers.iter_mut().enumerate() {
            if i != j {
                let (tx, rx) = shared_channel::new_bounded(MESH_QUEUE);
                tx_list.push(tx);
                rx_list.push(rx);
            }
        }
    }

    let mut handles = Vec::new();
    for (core, (txs, rxs)) in senders.into_iter().zip(receivers).enumerate() {
        let cpu = cpus.get(core % cpus.len().max(1)).copied().unwrap_or(0);
        let config = config.clone();
        let control = control.clone();
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("proxy-core-{core}"))
            .io_memory(IO_MEMORY)
            .ring_depth(RING_DEPTH)
            .spawn(move || core_main(core, config, control, txs, rxs))
            .map_err(|e| ServerError::Executor {
                core,
                msg: e.to_string(),
            })?;
        handles.push(handle);
    }
    log::info!("server_proxy: {n} cores, listening on {}", config.address);
    if config.active_redirection {
        log::warn!("active_redirection is not implemented yet: peers' slots get MOVED replies");
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

async fn core_main(
    core: usize,
    config: Arc<ProxyConfig>,
    control: Arc<Control>,
    txs: Vec<SharedSender<SnapshotMsg>>,
    rxs: Vec<SharedReceiver<SnapshotMsg>>,
) {
    if core == 0 {
        // why: replication is not on the request path; one task for the process is enough.
        let timeout = Duration::from_millis(config.backend_timeout.max(100));
        glommio::spawn_local(crate::repl::run(control.clone(), timeout)).detach();
    }
    crate::metrics::attach(control.clone(), core);
    let shard = Shard::new(core, config.clone(), control);
    for rx in rxs {
        let shard = shard.clone();
        glommio::spawn_local(async move {
            let rx = rx.connect().await;
            while let Some(msg) = rx.recv().await {
                shard.install(msg.snap.clone());
                msg.pending
                    .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            }
        })
        .detach();
    }
    for tx in txs {
        shard.add_peer(tx.connect().await);
    }
    let listener = match TcpListener::bind(config.address.as_str()) {
        Ok(l) => l,
        Err(e) => {
            log::error!("core {core}: cannot listen on {}: {e}", config.address);
            eprintln!("server_proxy: cannot listen on {}: {e}", config.address);
            std::process::exit(1);
        }
    };
    accept_loop(shard, listener).await;
}

async fn accept_loop(shard: Rc<Shard>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(crate::session::serve(shard.clone(), stream)).detach();
            }
            Err(e) => {
                // why: EMFILE and friends pass; spinning on them would starve the core.
                log::warn!("core {}: accept failed: {e}", shard.core);
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    /// The vendored glommio keeps a pending preempt timer across executor turns and lets it
    /// stand for a user timer before a sleep only when it is due no later
    /// (`vendor/glommio/PATCHES.md`, 2). A sooner user timer must still fire on time, and a
    /// later one must not fire early for good.
    #[test]
    fn user_timers_fire_on_time_beside_a_kept_preempt_timer() {
        glommio::LocalExecutorBuilder::default()
            .preempt_timer(Duration::from_millis(400))
            .spawn(|| async {
                // Busy turns arm the preempt timer and then keep it; then a sleep.
                async fn sleep_after_busy_turns(d: Duration) -> Duration {
                    for _ in 0..100 {
                        futures_lite::future::yield_now().await;
                    }
                    let t = Instant::now();
                    glommio::timer::sleep(d).await;
                    t.elapsed()
                }
                let sooner = sleep_after_busy_turns(Duration::from_millis(20)).await;
                assert!(sooner >= Duration::from_millis(20), "{sooner:?}");
                // why: a kept 400 ms preempt timer standing for it would show as ~400 ms.
                assert!(sooner < Duration::from_millis(300), "{sooner:?}");
                let later = sleep_after_busy_turns(Duration::from_millis(900)).await;
                assert!(later >= Duration::from_millis(900), "{later:?}");
                assert!(later < Duration::from_secs(5), "{later:?}");
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
