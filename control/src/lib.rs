//! # control: what every Undermoon process shares, and the coordinator
//!
//! ```text
//!   broker/ (mem_broker) ──► control ◄── proxy-core/ (server_proxy)
//!                              │
//!                              └─ coordinator (feature `coordinator`, so the data plane links no HTTP)
//! ```
//!
//! * [`model`]: the cluster metadata as plain data with serde, in the JSON shapes the broker
//!   serves and the coordinator reads (spec 1.3). No I/O lives here.
//! * [`umctl`]: the `UMCTL SETCLUSTER v2` and `SETREPL` text codecs the proxy decodes and the
//!   coordinator encodes.
//! * `client`: small blocking RESP client (feature `resp-client`, also used by the proxy's
//!   migration scanner) and HTTP client (feature `client`), shared with the broker.
//! * [`keyslot`]: the slot of a key (CRC16 of its hash tag), for the proxy and the tests.
//! * [`metrics`]: Prometheus text writer and the side-thread HTTP endpoint of every binary.
//! * [`config`]: the `UNDERMOON_` env prefix and config error the broker's and coordinator's
//!   loaders share.
//! * `coordinator` (feature `coordinator`): the coordinator's loops and admin port.
//!
//! Dependency direction is a rule: `broker -> control <- proxy-core`; nothing here depends on
//! either of them.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "resp-client")]
pub mod client;
pub mod config;
#[cfg(feature = "coordinator")]
pub mod coordinator;
pub mod keyslot;
pub mod metrics;
pub mod model;
pub mod umctl;
