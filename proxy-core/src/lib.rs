//! # proxy-core: the data plane (`server_proxy`)
//!
//! A shard-per-core Redis Cluster proxy on glommio. Skeleton: built out by issue #2.
#![warn(missing_docs)]
