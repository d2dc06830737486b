//! Replica brokers (spec 4.11): the master periodically `PUT`s its whole store to
//! `http://<replica>/api/v3/metadata`; a replica accepts it unless its own epoch is newer.
//! There is no automatic failover between brokers: the operator repoints coordinators and
//! calls `PUT /epoch/recovery` on the replica.

use crate::http::client;
use crate::service::Broker;
use crate::store::StoreError;
use std::time::Duration;

/// Timeout of one push.
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Pushes the store to every replica; returns one error per replica that refused or failed.
pub fn push_to_replicas(broker: &Broker) -> Vec<(String, StoreError)> {
    let replicas = broker.replicas();
    if replicas.is_empty() {
        return Vec::new();
    }
    let body = match broker.snapshot().and_then(|s| {
        serde_json::to_vec(&s).map_err(|e| StoreError::PersistenceJson(e.to_string()))
    }) {
        Ok(b) => b,
        Err(e) => return replicas.into_iter().map(|r| (r, e.clone())).collect(),
    };
    let mut errors = Vec::new();
    for r in replicas {
        let headers = [("Content-Type", "application/json")];
        match client::request(
            "PUT",
            &r,
            "/api/v3/metadata",
            &headers,
            Some(&body),
            PUSH_TIMEOUT,
        ) {
            Ok(resp) if resp.status == 200 => {}
            Ok(resp) => errors.push((
                r,
                StoreError::Replication(format!(
                    "replica answered {}: {}",
                    resp.status,
                    String::from_utf8_lossy(&resp.body)
                )),
            )),
            Err(e) => errors.push((r, StoreError::Replication(e.to_string()))),
        }
    }
    errors
}
