//! The coordinator: the control plane's hands. Stateless between rounds, so several may run
//! at once and one may be restarted at any time (spec 5).
//!
//! ```text
//!                       ┌── detect   (probe every proxy, report failures) ─────┐
//!  mem_broker ◄─HTTP──  ├── failover (GET /failures, POST failover)            │  worker pool
//!  (round robin)        ├── sync     (push SETREPL + SETCLUSTER if epoch lags) ├─ (crossbeam) ─RESP─► proxies
//!                       └── migrate  (UMCTL INFOMGR, commit, push)  ───────────┘
//!  admin port (RESP): PING, CONFIG GET/SET brokers, CONFIG GET reporter_id
//! ```
//!
//! Each loop is a plain thread that runs a round about every [`ROUND_INTERVAL`]. Every call
//! has a timeout (`proxy_timeout`), so a hung proxy or broker delays a round, never stops it.

mod admin;
pub mod broker;
pub mod config;
mod detect;
mod failover;
mod migrate;
pub mod proxies;
pub mod stats;
mod sync;
mod workers;

use broker::Brokers;
use config::CoordinatorConfig;
use proxies::Proxies;
use std::time::{Duration, Instant};
use workers::Workers;

/// Pause between two rounds of a loop. why: the original sleeps 1 s; failure detection and
/// failover latency are a small multiple of it, and a steady round costs one cheap call per
/// proxy.
pub const ROUND_INTERVAL: Duration = Duration::from_secs(1);

/// What every loop shares: config, brokers, proxy connections and the worker pool.
#[derive(Clone)]
pub struct Ctx {
    /// The config.
    pub config: std::sync::Arc<CoordinatorConfig>,
    /// Broker API.
    pub brokers: Brokers,
    /// Proxy connections.
    pub proxies: Proxies,
    workers: Workers,
}

/// Why the coordinator could not start.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// The admin port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// Address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// Runs the coordinator until the process exits.
///
/// # Errors
/// The admin address cannot be bound.
pub fn run(config: CoordinatorConfig) -> Result<(), CoordinatorError> {
    let timeout = Duration::from_secs(config.proxy_timeout.max(1));
    let ctx = Ctx {
        brokers: Brokers::new(config.brokers.clone(), timeout, config.enable_compression),
        proxies: Proxies::new(timeout, config.control_password.as_deref()),
        workers: Workers::new(config.thread_number),
        config: std::sync::Arc::new(config),
    };
    let listener = std::net::TcpListener::bind(&ctx.config.address).map_err(|source| {
        CoordinatorError::Listen {
            addr: ctx.config.address.clone(),
            source,
        }
    })?;
    log::info!(
        "coordinator {} (reporter {}) using brokers {:?}",
        ctx.config.address,
        ctx.config.reporter_id,
        ctx.brokers.list()
    );
    if let Some(addr) = ctx.config.metrics_address.as_deref() {
        match crate::metrics::serve(addr, stats::exposition) {
            Ok(m) => log::info!("coordinator metrics on http://{}/metrics", m.local_addr()),
            Err(source) => {
                return Err(CoordinatorError::Listen {
                    addr: addr.to_string(),
                    source,
                })
            }
        }
    }
    spawn_loop("detect", ctx.clone(), detect::round);
    if ctx.config.disable_failover {
        log::warn!("disable_failover: failures are reported but never failed over");
    } else {
        spawn_loop("failover", ctx.clone(), failover::round);
    }
    spawn_loop("sync", ctx.clone(), sync::round);
    spawn_loop("migrate", ctx.clone(), migrate::round);
    admin::serve(&ctx, listener);
    Ok(())
}

fn spawn_loop(name: &'static str, ctx: Ctx, round: fn(&Ctx)) {
    let spawned = std::thread::Builder::new()
        .name(format!("coord-{name}"))
        .spawn(move || loop {
            let start = Instant::now();
            // why: counted as it starts, so a scrape never sees a failed round not yet counted
            // as a round (failures <= rounds at every instant).
            stats::round(name);
            round(&ctx);
            log::trace!("{name} round took {:?}", start.elapsed());
            std::thread::sleep(ROUND_INTERVAL);
        });
    if let Err(e) = spawned {
        log::error!("cannot start the {name} loop: {e}");
    }
}
