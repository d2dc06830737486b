//! Prometheus metrics for every Undermoon binary: a text-format writer ([`Exposition`]), a
//! reader of the same format for tests ([`parse`]), and a tiny HTTP endpoint served from its own
//! thread ([`serve`]) so scraping never runs on a request path.
//!
//! Each binary keeps its own counters (the proxy per core, the broker and the coordinator in
//! atomics) and hands [`serve`] a function that renders them when scraped.

mod http;
mod text;

pub use http::{serve, MetricsServer};
pub use text::{parse, Exposition, Kind, Sample, LATENCY_BUCKETS};
