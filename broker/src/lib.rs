//! # broker: `mem_broker`, the metadata store and its HTTP API
//!
//! ```text
//!  operator / coordinator ──HTTP──► tiny_http workers (http/) ──► Broker (service.rs)
//!                                                                  │  one lock, copy-on-write:
//!                                                                  │  apply op to a copy, persist,
//!                                                                  │  then install
//!                                   store/ (pure ops on MetaStore) ◄┘
//!                                   persist.rs (meta file) · replica.rs (push to replicas)
//!                                   external.rs (HTTP storage) · resp.rs (UMCTL GETEPOCH)
//! ```
//!
//! Depends on `control` for the shapes it serves (cluster and proxy views, migration tasks).
#![forbid(unsafe_code)]

pub mod store;
