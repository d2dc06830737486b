//! The route table of spec 4.4: the same routes under `/api/v3/` and `/api/v2/`. Each handler
//! returns `Result<Reply, ApiError>`; nothing here can panic on input.

use super::errors::ApiError;
use crate::remote;
use crate::service::{now, Broker};
use crate::store::{self, view, AddProxy, MetaStore, OpError, StoreError};
use control::model::MigrationTask;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The broker version the original reports.
pub const VERSION: &str = "0.6.2";

/// A successful answer. JSON is serialised straight from the typed values, so fields keep
/// the declaration order of the shapes (the original's order), not alphabetical order.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Small JSON.
    Json(Vec<u8>),
    /// A big JSON document, gzipped when the client accepts it.
    Big(Vec<u8>),
    /// 200 with an empty body.
    Empty,
    /// Plain text.
    Text(&'static str),
}

/// HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
    /// Anything else.
    Other,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeNumber {
    node_number: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterNodeNumber {
    cluster_node_number: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplicaConfig {
    replica_addresses: Vec<String>,
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

fn number(s: &str) -> Result<u64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::BadRequest(format!("`{s}` is not a non-negative integer")))
}

fn page(query: &[(String, String)]) -> Result<(usize, Option<usize>), ApiError> {
    let mut offset = 0;
    let mut limit = None;
    for (k, v) in query {
        let n = usize::try_from(number(v)?).map_err(|_| ApiError::BadRequest("too big".into()))?;
        match k.as_str() {
            "offset" => offset = n,
            "limit" => limit = Some(n),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "unknown query parameter `{k}`"
                )))
            }
        }
    }
    Ok((offset, limit))
}

fn paged<'a>(
    items: impl Iterator<Item = &'a String>,
    q: &[(String, String)],
) -> Result<Vec<String>, ApiError> {
    let (offset, limit) = page(q)?;
    Ok(items
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .cloned()
        .collect())
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Internal(e.to_string()).into())
}

/// `{"<key>": value}` with `value`'s own field order.
fn wrap<T: serde::Serialize>(key: &'static str, v: &T) -> Result<Vec<u8>, ApiError> {
    to_json(&BTreeMap::from([(key, v)]))
}

/// Every route the broker answers without calling out to a proxy (auto-scaling and epoch
/// recovery do), as (method, path template with `{}` for each parameter), plus one unknown
/// method. Property tests and the fuzz target drive `dispatch` through these, so a route added
/// here is exercised by both.
pub const OFFLINE_ROUTES: [(Method, &str); 29] = [
    (Method::Get, "version"),
    (Method::Get, "metadata"),
    (Method::Put, "metadata"),
    (Method::Get, "clusters/names"),
    (Method::Get, "clusters/meta/{}"),
    (Method::Post, "clusters/meta/{}"),
    (Method::Delete, "clusters/meta/{}"),
    (Method::Get, "clusters/info/{}"),
    (Method::Patch, "clusters/nodes/{}"),
    (Method::Put, "clusters/nodes/{}"),
    (Method::Delete, "clusters/free_nodes/{}"),
    (Method::Put, "clusters/migrations"),
    (Method::Post, "clusters/migrations/expand/{}"),
    (Method::Post, "clusters/migrations/shrink/{}/{}"),
    (Method::Patch, "clusters/config/{}"),
    (Method::Put, "clusters/balance/{}"),
    (Method::Get, "proxies/addresses"),
    (Method::Post, "proxies/meta"),
    (Method::Get, "proxies/meta/{}"),
    (Method::Delete, "proxies/meta/{}"),
    (Method::Post, "proxies/failover/{}"),
    (Method::Post, "failures/{}/{}"),
    (Method::Get, "failures"),
    (Method::Get, "epoch"),
    (Method::Put, "epoch/{}"),
    (Method::Post, "resources/failures/check"),
    (Method::Get, "config"),
    (Method::Put, "config"),
    (Method::Other, "{}"),
];

/// Dispatches one request. `path` is the part after `/api/v2` or `/api/v3`, split on `/`.
///
/// # Errors
/// Any [`ApiError`]; 404 for unknown paths, 405 for known paths with another method.
pub fn dispatch(
    b: &Broker,
    method: Method,
    path: &[&str],
    query: &[(String, String)],
    body: &[u8],
) -> Result<Reply, ApiError> {
    use Method::*;
    let st = b.settings;
    let limit = st.migration_limit;
    match (method, path) {
        (Get, ["version"]) => Ok(Reply::Text(VERSION)),
        (Get, ["metadata"]) => Ok(Reply::Big(to_json(&b.snapshot()?)?)),
        (Put, ["metadata"]) => {
            let incoming: MetaStore = parse(body)?;
            if incoming.version != store::META_VERSION {
                return Err(StoreError::InvalidMetaVersion.into());
            }
            store::validate(&incoming).map_err(ApiError::BadRequest)?;
            b.replace(incoming)?;
            Ok(Reply::Empty)
        }
        (Get, ["clusters", "names"]) => {
            let names = b.read(|s| paged(s.clusters.keys(), query))??;
            Ok(Reply::Json(wrap("names", &names)?))
        }
        (Get, ["clusters", "meta", name]) => {
            let v = b.read(|s| s.clusters.get(*name).map(|c| view::cluster_view(c, limit)))?;
            let cluster = v.transpose()?;
            Ok(Reply::Big(wrap("cluster", &cluster)?))
        }
        (Post, ["clusters", "meta", name]) => {
            store::check_name(name)?;
            let req: NodeNumber = parse(body)?;
            let t = now();
            b.mutate(|s| store::create_cluster(s, name, req.node_number, t, &st))?;
            Ok(Reply::Empty)
        }
        (Delete, ["clusters", "meta", name]) => {
            b.mutate(|s| store::delete_cluster(s, name))?;
            Ok(Reply::Empty)
        }
        (Get, ["clusters", "info", name]) => {
            store::check_name(name)?;
            let info = b
                .read(|s| s.clusters.get(*name).map(|c| view::cluster_info(c, limit)))?
                .ok_or(StoreError::ClusterNotFound)??;
            Ok(Reply::Json(to_json(&info)?))
        }
        (Patch, ["clusters", "nodes", name]) => {
            store::check_name(name)?;
            let req: NodeNumber = parse(body)?;
            let _scaling = b.scale_lock()?;
            let t = now();
            let nodes = b.mutate(|s| store::add_nodes(s, name, req.node_number, t, &st))?;
            Ok(Reply::Json(to_json(&nodes)?))
        }
        (Put, ["clusters", "nodes", name]) => {
            store::check_name(name)?;
            let req: ClusterNodeNumber = parse(body)?;
            let _scaling = b.scale_lock()?;
            let t = now();
            let nodes =
                b.mutate(|s| store::set_node_number(s, name, req.cluster_node_number, t, &st))?;
            Ok(Reply::Json(to_json(&nodes)?))
        }
        (Delete, ["clusters", "free_nodes", name]) => {
            let _scaling = b.scale_lock()?;
            b.mutate(|s| store::delete_free_nodes(s, name))?;
            Ok(Reply::Empty)
        }
        (Put, ["clusters", "migrations"]) => {
            let task: MigrationTask = parse(body)?;
            b.mutate(|s| store::commit_migration(s, &task))?;
            Ok(Reply::Empty)
        }
        (Post, ["clusters", "migrations", "expand", name]) => {
            let _scaling = b.scale_lock()?;
            b.mutate(|s| store::expand(s, name))?;
            Ok(Reply::Empty)
        }
        (Post, ["clusters", "migrations", "shrink", name, n]) => {
            let n = number(n)?;
            let _scaling = b.scale_lock()?;
            b.mutate(|s| store::shrink(s, name, n))?;
            Ok(Reply::Empty)
        }
        (Post, ["clusters", "migrations", "auto", name, n]) => {
            remote::auto_scale(b, name, number(n)?)?;
            Ok(Reply::Empty)
        }
        (Patch, ["clusters", "config", name]) => {
            store::check_name(name)?;
            let fields: BTreeMap<String, String> = parse(body)?;
            b.mutate(|s| store::patch_config(s, name, &fields))?;
            Ok(Reply::Empty)
        }
        (Put, ["clusters", "balance", name]) => {
            let t = now();
            b.mutate(|s| store::balance(s, name, t, &st))?;
            Ok(Reply::Empty)
        }
        (Get, ["proxies", "addresses"]) => {
            let addrs = b.read(|s| paged(s.all_proxies.keys(), query))??;
            Ok(Reply::Json(wrap("addresses", &addrs)?))
        }
        (Post, ["proxies", "meta"]) => {
            let req: AddProxy = parse(body)?;
            b.mutate(|s| store::add_proxy(s, req.clone()))?;
            Ok(Reply::Empty)
        }
        (Get, ["proxies", "meta", addr]) => {
            let p = b.read(|s| view::proxy_view(s, addr, limit))??;
            Ok(Reply::Big(wrap("proxy", &p)?))
        }
        (Delete, ["proxies", "meta", addr]) => {
            b.mutate(|s| store::remove_proxy(s, addr))?;
            Ok(Reply::Empty)
        }
        (Post, ["proxies", "failover", addr]) => {
            let t = now();
            let p = b.mutate(|s| store::failover(s, addr, t, &st))?;
            Ok(Reply::Json(wrap("proxy", &p)?))
        }
        (Get, ["proxies", "failed", "addresses"]) => {
            let addrs: Vec<String> = b.read(|s| s.failed_proxies.iter().cloned().collect())?;
            Ok(Reply::Json(wrap("addresses", &addrs)?))
        }
        (Post, ["failures", addr, reporter]) => {
            let t = now();
            let ttl = st.failure_ttl;
            b.mutate(|s| {
                store::report_failure(s, addr, reporter, t, ttl);
                Ok::<(), OpError>(())
            })?;
            Ok(Reply::Empty)
        }
        (Get, ["failures"]) => {
            let t = now();
            let addrs = b.read(|s| store::failures(s, t, &st))?;
            Ok(Reply::Json(wrap("addresses", &addrs)?))
        }
        (Get, ["epoch"]) => Ok(Reply::Json(to_json(&b.read(|s| s.global_epoch)?)?)),
        (Put, ["epoch", "recovery"]) => {
            let failed = remote::recover_epoch(b)?;
            Ok(Reply::Json(wrap("failed_addresses", &failed)?))
        }
        (Put, ["epoch", n]) => {
            let n = number(n)?;
            b.mutate(|s| store::set_epoch(s, n))?;
            Ok(Reply::Empty)
        }
        (Post, ["resources", "failures", "check"]) => {
            let t = now();
            let hosts = b.read(|s| store::check_resources(s, t, &st))?;
            Ok(Reply::Json(wrap("hosts_cannot_fail", &hosts)?))
        }
        (Get, ["config"]) => Ok(Reply::Json(wrap("replica_addresses", &b.replicas())?)),
        (Put, ["config"]) => {
            let req: ReplicaConfig = parse(body)?;
            b.set_replicas(req.replica_addresses)?;
            Ok(Reply::Empty)
        }
        (_, p) if known_path(p) => Err(ApiError::MethodNotAllowed),
        _ => Err(ApiError::NotFound),
    }
}

/// The route template of `path` (parameters as `{}`), `unknown` for paths no route serves.
/// why: the metrics label must not take a value per cluster or proxy address.
pub fn route_name(path: &[&str]) -> &'static str {
    match path {
        ["version"] => "version",
        ["metadata"] => "metadata",
        ["clusters", "names"] => "clusters/names",
        ["clusters", "meta", _] => "clusters/meta/{}",
        ["clusters", "info", _] => "clusters/info/{}",
        ["clusters", "nodes", _] => "clusters/nodes/{}",
        ["clusters", "free_nodes", _] => "clusters/free_nodes/{}",
        ["clusters", "migrations"] => "clusters/migrations",
        ["clusters", "migrations", "expand", _] => "clusters/migrations/expand/{}",
        ["clusters", "migrations", "shrink", _, _] => "clusters/migrations/shrink/{}/{}",
        ["clusters", "migrations", "auto", _, _] => "clusters/migrations/auto/{}/{}",
        ["clusters", "config", _] => "clusters/config/{}",
        ["clusters", "balance", _] => "clusters/balance/{}",
        ["proxies", "addresses"] => "proxies/addresses",
        ["proxies", "meta"] => "proxies/meta",
        ["proxies", "meta", _] => "proxies/meta/{}",
        ["proxies", "failover", _] => "proxies/failover/{}",
        ["proxies", "failed", "addresses"] => "proxies/failed/addresses",
        ["failures"] => "failures",
        ["failures", _, _] => "failures/{}/{}",
        ["epoch"] => "epoch",
        ["epoch", "recovery"] => "epoch/recovery",
        ["epoch", _] => "epoch/{}",
        ["resources", "failures", "check"] => "resources/failures/check",
        ["config"] => "config",
        _ => "unknown",
    }
}

/// True when some method serves `path` (so another method gets 405, not 404).
fn known_path(path: &[&str]) -> bool {
    matches!(
        path,
        ["version"]
            | ["metadata"]
            | ["clusters", "names"]
            | ["clusters", "meta", _]
            | ["clusters", "info", _]
            | ["clusters", "nodes", _]
            | ["clusters", "free_nodes", _]
            | ["clusters", "migrations"]
            | ["clusters", "migrations", "expand", _]
            | ["clusters", "migrations", "shrink", _, _]
            | ["clusters", "migrations", "auto", _, _]
            | ["clusters", "config", _]
            | ["clusters", "balance", _]
            | ["proxies", "addresses"]
            | ["proxies", "meta"]
            | ["proxies", "meta", _]
            | ["proxies", "failover", _]
            | ["proxies", "failed", "addresses"]
            | ["failures"]
            | ["failures", _, _]
            | ["epoch"]
            | ["epoch", _]
            | ["resources", "failures", "check"]
            | ["config"]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;
    use proptest::prelude::*;

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(br#"{"node_number":4}"#.to_vec()),
            Just(br#"{"node_number":8}"#.to_vec()),
            Just(br#"{"cluster_node_number":12}"#.to_vec()),
            Just(
                br#"{"proxy_address":"127.0.0.1:6001","nodes":["a:1","a:2"],"host":"h1"}"#.to_vec()
            ),
            Just(
                br#"{"proxy_address":"127.0.0.1:6002","nodes":["b:1","b:2"],"host":"h2"}"#.to_vec()
            ),
            Just(br#"{"compression_strategy":"allow_all"}"#.to_vec()),
            proptest::collection::vec(any::<u8>(), 0..64),
            "[a-z{}\\[\\]\":,0-9 ]{0,40}".prop_map(String::into_bytes),
        ]
    }

    fn param() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("c".to_string()),
            Just("127.0.0.1:6001".to_string()),
            Just("4".to_string()),
            "[ -~]{0,12}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever arrives, the answer is a success or a 4xx, never a panic or a 500.
        #[test]
        fn random_requests_never_fail_internally(
            calls in proptest::collection::vec((0..OFFLINE_ROUTES.len(), param(), param(), body()), 1..30)
        ) {
            let broker = Broker::new(BrokerConfig::default()).unwrap();
            for (t, p1, p2, body) in calls {
                let (method, template) = OFFLINE_ROUTES[t];
                let path = template.replacen("{}", &p1, 1).replacen("{}", &p2, 1);
                let segs: Vec<&str> = path.split('/').collect();
                match dispatch(&broker, method, &segs, &[], &body) {
                    Ok(_) => {}
                    Err(e) => prop_assert!(e.status() < 500, "{:?} {} -> {:?}", method, path, e),
                }
            }
        }
    }
}
