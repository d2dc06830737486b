//! The HTTP side: the server and its routes, the error mapping, and a small client (for
//! replicas, external storage and tests).

/// The blocking HTTP client lives in `control` so the coordinator shares it.
pub use control::client::http as client;
pub mod errors;
pub mod metrics;
pub mod routes;
pub mod server;
