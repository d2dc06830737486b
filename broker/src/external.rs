//! External HTTP storage (spec 4.11, `storage_type = "http"`): the metadata lives in another
//! service at `http://<http_storage_address>/api/v1/store/<storage_name>` with basic auth.
//!
//! ```text
//! GET  -> {"version": "<opaque>", "store": MetaStore}
//! PUT  <- {"version": "<the version read>" | null, "store": MetaStore}
//!         409 when the version is not current (someone else wrote): the broker answers RETRY
//! ```

use crate::http::client;
use crate::store::{MetaStore, StoreError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Request timeout towards the store (the original's 5 s).
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Serialize, Deserialize)]
struct Document {
    version: Option<String>,
    store: Option<MetaStore>,
}

/// Connection details of the external store.
#[derive(Debug, Clone)]
pub struct ExternalStore {
    addr: String,
    path: String,
    auth: String,
}

impl ExternalStore {
    /// A store client for `addr` with basic auth `name:password`.
    pub fn new(addr: &str, name: &str, password: &str) -> Self {
        Self {
            addr: addr.to_string(),
            path: format!("/api/v1/store/{name}"),
            auth: format!(
                "Basic {}",
                client::base64(format!("{name}:{password}").as_bytes())
            ),
        }
    }

    fn call(&self, method: &str, body: Option<&[u8]>) -> Result<client::Response, StoreError> {
        let headers = [
            ("Authorization", self.auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        client::request(method, &self.addr, &self.path, &headers, body, TIMEOUT).map_err(|e| {
            if matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                StoreError::ExternalTimeout
            } else {
                StoreError::External(e.to_string())
            }
        })
    }

    /// Reads the current version and store.
    ///
    /// # Errors
    /// `EXTERNAL`, `EXTERNAL_TIMEOUT`, `EMPTY_EXTERNAL_VERSION`.
    pub fn get(&self) -> Result<(String, MetaStore), StoreError> {
        let r = self.call("GET", None)?;
        if r.status != 200 {
            return Err(StoreError::External(format!("GET answered {}", r.status)));
        }
        let doc: Document = serde_json::from_slice(&r.body)
            .map_err(|e| StoreError::External(format!("bad document: {e}")))?;
        let version = doc.version.ok_or(StoreError::EmptyExternalVersion)?;
        let store = doc
            .store
            .ok_or_else(|| StoreError::External("document has no store".into()))?;
        Ok((version, store))
    }

    /// Writes `store` if `version` is still current (`None`: only if the store is empty).
    ///
    /// # Errors
    /// `RETRY` on a version conflict, `EXTERNAL`, `EXTERNAL_TIMEOUT`.
    pub fn put(&self, version: Option<&str>, store: &MetaStore) -> Result<(), StoreError> {
        let doc = serde_json::json!({"version": version, "store": store});
        let body = serde_json::to_vec(&doc).map_err(|e| StoreError::External(e.to_string()))?;
        let r = self.call("PUT", Some(&body))?;
        match r.status {
            200..=299 => Ok(()),
            409 => Err(StoreError::Retry),
            s => Err(StoreError::External(format!("PUT answered {s}"))),
        }
    }

    /// Start-up: initialise the store if empty, retrying each second until the service
    /// answers; returns the store as it then is.
    pub fn init(&self, empty: &MetaStore) -> MetaStore {
        loop {
            if let Err(e) = self.put(None, empty) {
                log::info!("external storage init PUT: {e} ({e:?})");
            }
            match self.get() {
                Ok((_, store)) => return store,
                Err(e) => log::warn!("external storage not ready: {e:?}; retrying in 1 s"),
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}
