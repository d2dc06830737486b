//! # broker: `mem_broker`, the metadata store and its HTTP API
//!
//! ```text
//!  operator / coordinator ──HTTP──► http/server.rs (tiny_http, N worker threads)
//!                                      │ http/routes.rs: /api/v3 and /api/v2
//!                                      ▼
//!                                   service.rs: Broker — one store behind one lock,
//!                                      │  copy-on-write: apply to a copy, persist, install
//!                                      ▼
//!                                   store/: pure operations on MetaStore
//!                                      (alloc, views, scaling, failover, epochs)
//!  side effects: persist.rs (meta file) · replica.rs + tasks.rs (push to replicas, periodic
//!  writes) · external.rs (HTTP storage) · etcd/ (etcd storage: compare-and-put writes,
//!  watch-fed cache) · remote.rs + resp.rs (UMCTL GETEPOCH to proxies)
//! ```
//!
//! Depends on `control` for the shapes it serves (cluster and proxy views, migration tasks);
//! nothing depends on this crate.
#![forbid(unsafe_code)]

pub mod config;
pub mod etcd;
pub mod external;
pub mod http;
pub mod persist;
pub mod remote;
pub mod replica;
pub mod resp;
pub mod service;
pub mod store;
pub mod tasks;

use std::sync::Arc;

/// HTTP worker threads. The original runs 2; a few more keep the API answering while an auto
/// scaling call waits on proxies or an epoch recovery polls them.
pub const HTTP_WORKERS: usize = 4;

/// Runs the broker until the process is killed.
///
/// # Errors
/// A message when the metadata file cannot be loaded or the address cannot be bound.
pub fn run(config: config::BrokerConfig) -> Result<(), String> {
    let address = config.address.clone();
    let metrics_address = config.metrics_address.clone();
    let broker = Arc::new(service::Broker::new(config)?);
    if let Some(addr) = metrics_address {
        let b = broker.clone();
        let m = control::metrics::serve(&addr, move || http::metrics::exposition(&b))
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        log::info!("mem_broker metrics on http://{}/metrics", m.local_addr());
    }
    let server = tiny_http::Server::http(&address)
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    // why: with port 0 the OS picks the port; logging the bound address lets a caller (the
    // integration tests) find it without racing for a "free" port.
    let bound = server
        .server_addr()
        .to_ip()
        .map(|a| a.to_string())
        .unwrap_or(address);
    log::info!("mem_broker listening on {bound}");
    let server = Arc::new(server);
    tasks::spawn(&broker);
    let workers = http::server::spawn_workers(broker, server, HTTP_WORKERS);
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}
