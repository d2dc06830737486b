//! The HTTP side: the server and its routes, the error mapping, and a small client (for
//! replicas, external storage and tests).

pub mod client;
pub mod errors;
pub mod routes;
pub mod server;
