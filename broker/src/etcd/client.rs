//! The requests the broker makes to etcd's JSON gateway: range one key, and a transaction
//! that puts the key only if its `mod_revision` is still the one read. Keys and values are
//! base64 in the JSON; 64-bit numbers are JSON strings.
//!
//! ```text
//! POST /v3/kv/range {"key": b64}                       -> {"header":{"revision"},"kvs":[kv]}
//! POST /v3/kv/txn   {"compare":[{"key","target":"MOD","result":"EQUAL","mod_revision"}],
//!                    "success":[{"request_put":{"key","value"}}],
//!                    "failure":[{"request_range":{"key"}}]}
//!                   -> {"header":{"revision"},"succeeded":bool,"responses":[...]}
//! ```

use crate::http::client;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Timeout of one request to etcd. A healthy single-node etcd answers in milliseconds; a
/// write blocked longer than this is reported as unavailable rather than hanging the client.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a request to etcd failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint answered (connection refused, timeout, broken response).
    #[error("etcd unreachable: {0}")]
    Unreachable(String),
    /// An endpoint answered with something other than success.
    #[error("etcd refused the request: {0}")]
    Refused(String),
}

/// One key-value as the gateway returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    /// Revision of the last change of this key.
    pub mod_revision: i64,
    /// The value (decoded from base64).
    pub value: Vec<u8>,
}

/// Result of a compare-and-put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOutcome {
    /// The compare held; the put (if any) is at this store revision.
    Committed(i64),
    /// Someone else wrote first; the key as it is now (`None`: deleted).
    Conflict(Option<Kv>),
}

#[derive(Deserialize, Default)]
struct Header {
    #[serde(default)]
    revision: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct RawKv {
    #[serde(default)]
    mod_revision: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
struct RangeResponse {
    #[serde(default)]
    header: Header,
    #[serde(default)]
    kvs: Vec<RawKv>,
}

#[derive(Deserialize)]
struct TxnResponse {
    #[serde(default)]
    header: Header,
    #[serde(default)]
    succeeded: bool,
    #[serde(default)]
    responses: Vec<serde_json::Value>,
}

pub(crate) fn num(s: Option<&str>) -> Result<i64, EtcdError> {
    s.unwrap_or("0")
        .parse()
        .map_err(|_| EtcdError::Refused("bad revision in etcd answer".into()))
}

impl RawKv {
    pub(crate) fn decode(&self) -> Result<Kv, EtcdError> {
        let value = B64
            .decode(self.value.as_deref().unwrap_or_default())
            .map_err(|_| EtcdError::Refused("bad base64 value from etcd".into()))?;
        Ok(Kv {
            mod_revision: num(self.mod_revision.as_deref())?,
            value,
        })
    }
}

/// A client for one metadata key on a list of endpoints. Requests go to the endpoint that
/// answered last and move on to the next one when it does not.
#[derive(Debug)]
pub struct EtcdClient {
    endpoints: Vec<String>,
    preferred: AtomicUsize,
    key: String,
}

impl EtcdClient {
    /// A client for `key` on `endpoints` (`host:port`, at least one).
    pub fn new(endpoints: Vec<String>, key: &str) -> Self {
        Self {
            endpoints,
            preferred: AtomicUsize::new(0),
            key: B64.encode(key.as_bytes()),
        }
    }

    /// The endpoints in the order to try them now.
    pub fn endpoints(&self) -> Vec<String> {
        let start = self.preferred.load(Ordering::Relaxed);
        let n = self.endpoints.len();
        (0..n)
            .filter_map(|i| self.endpoints.get((start + i) % n).cloned())
            .collect()
    }

    /// Marks the endpoint at `idx` of [`EtcdClient::endpoints`] as the one that answered.
    pub fn prefer(&self, idx: usize) {
        let n = self.endpoints.len().max(1);
        let start = self.preferred.load(Ordering::Relaxed);
        self.preferred.store((start + idx) % n, Ordering::Relaxed);
    }

    /// The base64 key, as the watch request needs it.
    pub fn key_b64(&self) -> &str {
        &self.key
    }

    fn post(&self, path: &str, body: &serde_json::Value) -> Result<Vec<u8>, EtcdError> {
        let body = body.to_string();
        let mut last = String::from("no etcd endpoint configured");
        for (i, ep) in self.endpoints().iter().enumerate() {
            let headers = [("Content-Type", "application/json")];
            match client::request(
                "POST",
                ep,
                path,
                &headers,
                Some(body.as_bytes()),
                REQUEST_TIMEOUT,
            ) {
                Ok(r) if r.status == 200 => {
                    self.prefer(i);
                    return Ok(r.body);
                }
                // why: a 5xx from one member (no leader, shutting down) is worth trying the
                // next member for; a 4xx is our request's fault and would fail everywhere.
                Ok(r) if r.status >= 500 => {
                    last = format!("{ep} answered {}", r.status);
                }
                Ok(r) => {
                    return Err(EtcdError::Refused(format!(
                        "{ep} answered {}: {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    )))
                }
                Err(e) => last = format!("{ep}: {e}"),
            }
        }
        Err(EtcdError::Unreachable(last))
    }

    /// Reads the key (`None` when absent) and the store revision the read saw. A
    /// linearizable read: it goes through the leader.
    ///
    /// # Errors
    /// [`EtcdError`].
    pub fn range(&self) -> Result<(i64, Option<Kv>), EtcdError> {
        let raw = self.post("/v3/kv/range", &json!({"key": self.key}))?;
        let r: RangeResponse = serde_json::from_slice(&raw)
            .map_err(|e| EtcdError::Refused(format!("bad range answer: {e}")))?;
        let kv = r.kvs.first().map(RawKv::decode).transpose()?;
        Ok((num(r.header.revision.as_deref())?, kv))
    }

    /// Only the key's `mod_revision` (0 when absent), without its value: the cheap probe.
    ///
    /// # Errors
    /// [`EtcdError`].
    pub fn revision(&self) -> Result<i64, EtcdError> {
        let raw = self.post("/v3/kv/range", &json!({"key": self.key, "keys_only": true}))?;
        let r: RangeResponse = serde_json::from_slice(&raw)
            .map_err(|e| EtcdError::Refused(format!("bad range answer: {e}")))?;
        r.kvs
            .first()
            .map_or(Ok(0), |kv| num(kv.mod_revision.as_deref()))
    }

    /// Puts `value` if the key's `mod_revision` is still `rev` (0: the key does not exist).
    /// With `value == None` nothing is written: the transaction only confirms that `rev` is
    /// current, so an operation that changed nothing answers from up-to-date metadata.
    ///
    /// # Errors
    /// [`EtcdError`]; a lost compare is not an error but [`TxnOutcome::Conflict`].
    pub fn compare_and_put(&self, rev: i64, value: Option<&[u8]>) -> Result<TxnOutcome, EtcdError> {
        let success = match value {
            Some(v) => json!([{"request_put": {"key": self.key, "value": B64.encode(v)}}]),
            None => json!([]),
        };
        let body = json!({
            "compare": [{"key": self.key, "target": "MOD", "result": "EQUAL",
                         "mod_revision": rev.to_string()}],
            "success": success,
            "failure": [{"request_range": {"key": self.key}}],
        });
        let raw = self.post("/v3/kv/txn", &body)?;
        let r: TxnResponse = serde_json::from_slice(&raw)
            .map_err(|e| EtcdError::Refused(format!("bad txn answer: {e}")))?;
        if r.succeeded {
            return Ok(TxnOutcome::Committed(num(r.header.revision.as_deref())?));
        }
        let current = r
            .responses
            .first()
            .and_then(|resp| resp.get("response_range"))
            .map(|range| serde_json::from_value::<RangeResponse>(range.clone()))
            .transpose()
            .map_err(|e| EtcdError::Refused(format!("bad txn range: {e}")))?
            .and_then(|range| range.kvs.into_iter().next())
            .map(|kv| kv.decode())
            .transpose()?;
        Ok(TxnOutcome::Conflict(current))
    }
}
