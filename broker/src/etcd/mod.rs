//! etcd storage (`storage_type = "etcd"`): the whole metadata document is one key,
//! `<etcd_prefix>/metadata`, reached through etcd's JSON gateway (`/v3/kv/range`,
//! `/v3/kv/txn`, `/v3/watch`) with the broker's small blocking HTTP client.
//!
//! ```text
//!  mutate ──► txn: if mod_revision(key) == rev_read then put(new doc) else range(key)
//!                  committed  -> install (header.revision, new doc) in the cache
//!                  conflict   -> install the current doc, run the operation again
//!  watch.rs thread: range, then watch from rev+1; every event installs (mod_revision, doc)
//! ```
//!
//! Why the JSON gateway and one key: `docs/etcd.md`.

pub mod client;
pub mod sync;
pub mod watch;

pub use client::{EtcdClient, EtcdError, Kv, TxnOutcome};
pub use sync::EtcdLink;

use crate::store::MetaStore;
use std::sync::atomic::{AtomicBool, Ordering};

/// Health of the link to etcd, read by the HTTP layer to flag cached reads as stale.
#[derive(Debug, Default)]
pub struct Health {
    watching: AtomicBool,
    reachable: AtomicBool,
}

impl Health {
    /// The watch stream is established (false while reconnecting).
    pub fn set_watching(&self, up: bool) {
        self.watching.store(up, Ordering::SeqCst);
    }

    /// The last request to etcd succeeded.
    pub fn set_reachable(&self, ok: bool) {
        self.reachable.store(ok, Ordering::SeqCst);
    }

    /// The cache may lag etcd: the watch is down or etcd did not answer the last request.
    pub fn stale(&self) -> bool {
        !(self.watching.load(Ordering::SeqCst) && self.reachable.load(Ordering::SeqCst))
    }
}

/// Decodes a stored document.
///
/// # Errors
/// A message when the value is not metadata JSON.
pub fn decode_store(value: &[u8]) -> Result<MetaStore, String> {
    serde_json::from_slice(value).map_err(|e| format!("etcd value is not metadata JSON: {e}"))
}
