//! Small blocking clients (std only, timeouts on every call) shared by the control-plane
//! processes: `http` for the broker API (feature `client`), [`resp`] for proxies and Redis
//! (feature `resp-client`, which the proxy's migration scanner also uses). The data plane
//! never links the HTTP client.

#[cfg(feature = "client")]
pub mod http;
pub mod resp;
