//! # proxy-core: the data plane (`server_proxy`)
//!
//! A shard-per-core Redis Cluster proxy on glommio.
//!
//! ```text
//!  clients ──► core 0: listener(SO_REUSEPORT) ─► session ─► router(slot table) ─► backend conns ─► redis
//!          ──► core 1: listener(SO_REUSEPORT) ─► session ─► router(slot table) ─► backend conns ─► redis
//!                         ▲ UMCTL SETCLUSTER parsed once, snapshot sent to every core
//! ```
//!
//! Pure layers (no I/O, unit-tested): [`resp`], [`slot`], [`command`], [`route`],
//! [`snapshot`], [`cluster_reply`], [`migration`]. I/O layers: [`session`], [`backend`], [`shard`], [`server`],
//! [`repl`] (the replicator driving `REPLICAOF` on the local Redis nodes).
#![warn(missing_docs)]
#![forbid(unsafe_code)]
// why: input must never crash the proxy (also set as workspace lints; repeated here so the
// rule stays with the crate if it is ever built outside the workspace).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod backend;
pub mod cluster_reply;
pub mod command;
pub mod compress;
pub mod config;
pub mod errors;
pub mod io;
pub mod metrics;
pub mod migration;
pub mod repl;
pub mod resp;
pub mod route;
pub mod server;
pub mod session;
pub mod shard;
pub mod slot;
pub mod slowlog;
pub mod snapshot;
pub mod sync;
