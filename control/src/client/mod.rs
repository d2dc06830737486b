//! Small blocking clients (std only, timeouts on every call) shared by the control-plane
//! processes: [`http`] for the broker API, [`resp`] for proxies and Redis. Behind the `client`
//! feature, so the data plane never links them.

pub mod http;
pub mod resp;
