//! # broker: `mem_broker`, the metadata store and its HTTP API
//!
//! Skeleton: built out by issue #3.
#![forbid(unsafe_code)]
