//! The broker HTTP API as the coordinator uses it (spec 4.4, "Broker HTTP API"). Brokers are
//! used in turn, one per request, skipping unreachable ones, and the list can be changed at
//! runtime (`CONFIG SET brokers`). Every call has a timeout.

use crate::client::http;
use crate::model::{Cluster, MigrationTask, Proxy};
use serde::Deserialize;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

const API: &str = "/api/v3";
/// Page size for the paged lists. why: the original pages by 100; a page is a small response.
const PAGE: usize = 100;
/// Largest decompressed response. why: bounds what a broken broker can make us allocate.
const MAX_JSON: u64 = 64 * 1024 * 1024;

/// Why a broker call failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Connect, timeout or malformed HTTP.
    #[error("broker {addr}: {source}")]
    Io {
        /// Broker used.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A non-2xx status.
    #[error("broker {addr}: {method} {path} -> {status} {body}")]
    Status {
        /// Broker used.
        addr: String,
        /// Method.
        method: &'static str,
        /// Path.
        path: String,
        /// HTTP status.
        status: u16,
        /// Body text (truncated).
        body: String,
    },
    /// A body that is not the expected JSON.
    #[error("broker {addr}: bad JSON from {path}: {message}")]
    Json {
        /// Broker used.
        addr: String,
        /// Path.
        path: String,
        /// Parser message.
        message: String,
    },
    /// No broker configured.
    #[error("no broker configured")]
    NoBroker,
}

/// The brokers and how to call them; cheap to clone and share between threads.
#[derive(Clone)]
pub struct Brokers {
    list: Arc<RwLock<Vec<String>>>,
    next: Arc<AtomicUsize>,
    timeout: Duration,
    gzip: bool,
}

#[derive(Deserialize)]
struct Addresses {
    addresses: Vec<String>,
}
#[derive(Deserialize)]
struct Names {
    names: Vec<String>,
}
#[derive(Deserialize)]
struct ClusterReply {
    cluster: Option<Cluster>,
}
#[derive(Deserialize)]
struct ProxyReply {
    proxy: Option<Proxy>,
}

impl Brokers {
    /// Brokers `list`, calls bounded by `timeout`; `gzip` asks for compressed documents.
    pub fn new(list: Vec<String>, timeout: Duration, gzip: bool) -> Self {
        Self {
            list: Arc::new(RwLock::new(list)),
            next: Arc::new(AtomicUsize::new(0)),
            timeout,
            gzip,
        }
    }

    /// The current list.
    pub fn list(&self) -> Vec<String> {
        self.list.read().map(|l| l.clone()).unwrap_or_default()
    }

    /// Replaces the list (`CONFIG SET brokers`).
    pub fn set_list(&self, list: Vec<String>) {
        if let Ok(mut l) = self.list.write() {
            *l = list;
        }
    }

    /// The brokers to try for one request: the next in turn first, then the others in order.
    fn rotation(&self) -> Vec<String> {
        let list = self.list();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % list.len().max(1);
        list.iter()
            .cycle()
            .skip(start)
            .take(list.len())
            .cloned()
            .collect()
    }

    /// One request, to the next broker in turn; on a connection failure or timeout, to the
    /// following ones (each at most once). why: round robin alone would make every round that
    /// needs several calls fail while one broker of the list is down.
    fn call(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Vec<u8>, BrokerError> {
        let mut last = BrokerError::NoBroker;
        for addr in self.rotation() {
            match self.call_one(addr, method, path, body) {
                Err(e @ BrokerError::Io { .. }) => last = e,
                other => return other,
            }
        }
        Err(last)
    }

    fn call_one(
        &self,
        addr: String,
        method: &'static str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Vec<u8>, BrokerError> {
        let full = format!("{API}{path}");
        let accept = if self.gzip { "gzip" } else { "identity" };
        let mut headers = vec![("Accept-Encoding", accept)];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let resp = http::request(method, &addr, &full, &headers, body, self.timeout).map_err(
            |source| BrokerError::Io {
                addr: addr.clone(),
                source,
            },
        )?;
        if !(200..300).contains(&resp.status) {
            let body = String::from_utf8_lossy(&resp.body);
            return Err(BrokerError::Status {
                addr,
                method,
                path: full,
                status: resp.status,
                body: body.chars().take(200).collect(),
            });
        }
        let gzipped = resp
            .header("content-encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
        if !gzipped {
            return Ok(resp.body);
        }
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(resp.body.as_slice())
            .take(MAX_JSON)
            .read_to_end(&mut out)
            .map_err(|source| BrokerError::Io { addr, source })?;
        Ok(out)
    }

    fn get_json<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<T, BrokerError> {
        let body = self.call("GET", path, None)?;
        serde_json::from_slice(&body).map_err(|e| BrokerError::Json {
            addr: String::new(),
            path: path.to_string(),
            message: e.to_string(),
        })
    }

    fn paged(&self, path: &str, names: bool) -> Result<Vec<String>, BrokerError> {
        let mut all = Vec::new();
        loop {
            let page = format!("{path}?offset={}&limit={PAGE}", all.len());
            let items = if names {
                self.get_json::<Names>(&page)?.names
            } else {
                self.get_json::<Addresses>(&page)?.addresses
            };
            let done = items.len() < PAGE;
            all.extend(items);
            if done {
                return Ok(all);
            }
        }
    }

    /// Every registered proxy, failed ones included (`GET /proxies/addresses`, paged).
    ///
    /// # Errors
    /// [`BrokerError`].
    pub fn proxy_addresses(&self) -> Result<Vec<String>, BrokerError> {
        self.paged("/proxies/addresses", false)
    }

    /// `GET /proxies/failed/addresses`.
    ///
    /// # Errors
    /// [`BrokerError`].
    pub fn failed_addresses(&self) -> Result<Vec<String>, BrokerError> {
        Ok(self
            .get_json::<Addresses>("/proxies/failed/addresses")?
            .addresses)
    }

    /// `GET /clusters/names`, paged.
    ///
    /// # Errors
    /// [`BrokerError`].
    pub fn cluster_names(&self) -> Result<Vec<String>, BrokerError> {
        self.paged("/clusters/names", true)
    }

    /// `GET /clusters/meta/<name>` (`None`: no such cluster).
    ///
    /// # Errors
    /// [`BrokerError`].
    pub fn cluster(&self, name: &str) -> Result<Option<Cluster>, BrokerError> {
        Ok(self
            .get_json::<ClusterReply>(&format!("/clusters/meta/{name}"))?
            .cluster)
    }

    /// `GET /proxies/meta/<addr>` (`None`: not registered).
    ///
    /// # Errors
    /// [`BrokerError`].
    pub fn proxy(&self, addr: &str) -> Result<Option<Proxy>, BrokerError> {
        Ok(self
            .get_json::<ProxyReply>(&format!("/proxies/meta/{addr}"))?
            .proxy)
    }

    /// `GET /epoch`: the global epoch, which is every free proxy's epoch.
    ///
    /// # Errors
    /// [`BrokerError`].
    pub fn global_epoch(&self) -> Result<u64, BrokerError> {
        self.get_json::<u64>("/epoch")
    }

    /// `POST /failures/<addr>/<reporter_id>`.
    ///
    /// # Errors
    /// [`BrokerError`].
    pub fn report_failure(&self, addr: &str, reporter: &str) -> Result<(), BrokerError> {
        self.call("POST", &format!("/failures/{addr}/{reporter}"), Some(b""))
            .map(drop)
    }

    /// `GET /failures`: proxies confirmed failed (quorum reached within the TTL).
    ///
    /// # Errors
    /// [`BrokerError`].
    pub fn failures(&self) -> Result<Vec<String>, BrokerError> {
        Ok(self.get_json::<Addresses>("/failures")?.addresses)
    }

    /// `POST /proxies/failover/<addr>`: the replacement's address, if one was assigned.
    ///
    /// # Errors
    /// [`BrokerError`] (409 NO_AVAILABLE_RESOURCE is retried by the next round).
    pub fn failover(&self, addr: &str) -> Result<Option<String>, BrokerError> {
        let path = format!("/proxies/failover/{addr}");
        let body = self.call("POST", &path, Some(b""))?;
        let reply: ProxyReply = serde_json::from_slice(&body).map_err(|e| BrokerError::Json {
            addr: String::new(),
            path,
            message: e.to_string(),
        })?;
        Ok(reply.proxy.map(|p| p.address))
    }

    /// `PUT /clusters/migrations`: commits a finished migration.
    ///
    /// # Errors
    /// [`BrokerError`].
    pub fn commit_migration(&self, task: &MigrationTask) -> Result<(), BrokerError> {
        let body = serde_json::to_vec(task).map_err(|e| BrokerError::Json {
            addr: String::new(),
            path: "/clusters/migrations".into(),
            message: e.to_string(),
        })?;
        self.call("PUT", "/clusters/migrations", Some(&body))
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_starts_with_the_next_broker_and_covers_all() {
        let b = Brokers::new(
            vec!["a".into(), "b".into(), "c".into()],
            Duration::from_secs(1),
            false,
        );
        assert_eq!(b.rotation(), vec!["a", "b", "c"]);
        assert_eq!(b.rotation(), vec!["b", "c", "a"]);
        b.set_list(Vec::new());
        assert!(b.rotation().is_empty());
    }
}
