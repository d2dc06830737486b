//! `mem_broker` configuration (spec 4.1): an optional TOML file, then `UNDERMOON_<KEY>`
//! environment overrides (env wins). Unknown keys and bad values are errors naming the key.

use control::model::ClusterConfig;
use std::collections::BTreeMap;
use std::path::Path;

/// Where the metadata lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageType {
    /// In this process, optionally persisted to `meta_filename`.
    Memory,
    /// An external HTTP store (spec 4.11).
    Http,
    /// etcd v3 through its JSON gateway; several brokers may share it (`docs/etcd.md`).
    Etcd,
}

/// Every key of spec 4.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// HTTP listen address.
    pub address: String,
    /// Seconds a failure report counts.
    pub failure_ttl: u64,
    /// Distinct reporters needed before a proxy is listed as failed.
    pub failure_quorum: u64,
    /// Visible migrations per cluster (0 = all).
    pub migration_limit: u64,
    /// Brokers to push metadata to.
    pub replica_addresses: Vec<String>,
    /// Seconds between pushes to replicas (0 = off).
    pub sync_meta_interval: u64,
    /// Ordered (StatefulSet) mode.
    pub enable_ordered_proxy: bool,
    /// Memory or external HTTP storage.
    pub storage_type: StorageType,
    /// Load `meta_filename` at start.
    pub recover_from_meta_file: bool,
    /// Persistence file.
    pub meta_filename: String,
    /// Write the file after every change.
    pub auto_update_meta_file: bool,
    /// Seconds between periodic writes (0 = off).
    pub update_meta_file_interval: u64,
    /// External store name (also the basic-auth user).
    pub storage_name: String,
    /// External store password.
    pub storage_password: String,
    /// External store `host:port`.
    pub http_storage_address: String,
    /// Seconds between external store cache refreshes.
    pub refresh_interval: u64,
    /// etcd client endpoints, `host:port` (an `http://` prefix is accepted).
    pub etcd_endpoints: Vec<String>,
    /// Key prefix in etcd, so several deployments can share one etcd.
    pub etcd_prefix: String,
    /// Accepted for compatibility; unused.
    pub debug: bool,
    /// Config of new clusters.
    pub cluster_config: ClusterConfig,
    /// Ours: `host:port` of the Prometheus metrics endpoint; unset or empty: none.
    pub metrics_address: Option<String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:7799".into(),
            failure_ttl: 60,
            failure_quorum: 1,
            migration_limit: 1,
            replica_addresses: Vec::new(),
            sync_meta_interval: 0,
            enable_ordered_proxy: false,
            storage_type: StorageType::Memory,
            recover_from_meta_file: false,
            meta_filename: "metadata".into(),
            auto_update_meta_file: false,
            update_meta_file_interval: 0,
            storage_name: "my_storage_name".into(),
            storage_password: "my_storage_password".into(),
            http_storage_address: "localhost:9999".into(),
            refresh_interval: 30,
            etcd_endpoints: vec!["127.0.0.1:2379".into()],
            etcd_prefix: "/undermoon".into(),
            debug: false,
            cluster_config: ClusterConfig::default(),
            metrics_address: None,
        }
    }
}

pub use control::config::ConfigError;
use control::config::ENV_PREFIX;

impl BrokerConfig {
    /// Reads `path` (if any) then the environment.
    ///
    /// # Errors
    /// An unreadable file, an unknown key, or an invalid value.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter_map(|(k, v)| {
                k.strip_prefix(ENV_PREFIX)
                    .map(|k| (k.to_ascii_lowercase(), v))
            })
            .collect();
        let file = match path {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| ConfigError::File {
                path: p.display().to_string(),
                message: e.to_string(),
            })?),
            None => None,
        };
        Self::from_parts(file.as_deref(), path, &env)
    }

    /// Builds a config from TOML text and env pairs (keys lower-case, without the prefix).
    ///
    /// # Errors
    /// As [`BrokerConfig::load`].
    pub fn from_parts(
        toml_text: Option<&str>,
        path: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        if let Some(text) = toml_text {
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::File {
                        path: path.map(|p| p.display().to_string()).unwrap_or_default(),
                        message: e.message().to_string(),
                    })?;
            for (k, v) in table {
                let s = match v {
                    toml::Value::String(s) => s,
                    toml::Value::Array(a) => a
                        .iter()
                        .map(|x| {
                            x.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| x.to_string())
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                c.set(&k, &s)?;
            }
        }
        for (k, v) in env {
            c.set(k, v)?;
        }
        c.address.parse::<std::net::SocketAddr>().map_err(|_| {
            invalid(
                "address",
                &c.address,
                "a socket address like 127.0.0.1:7799",
            )
        })?;
        Ok(c)
    }

    /// Sets one key from its text form.
    ///
    /// # Errors
    /// Unknown key or invalid value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let num = || {
            value
                .trim()
                .parse::<u64>()
                .map_err(|_| invalid(key, value, "an unsigned integer"))
        };
        let flag = || match value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(invalid(key, value, "true or false")),
        };
        match key {
            "address" => self.address = value.to_string(),
            "failure_ttl" => self.failure_ttl = num()?,
            "failure_quorum" => self.failure_quorum = num()?,
            "migration_limit" => self.migration_limit = num()?,
            "replica_addresses" => {
                self.replica_addresses = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "sync_meta_interval" => self.sync_meta_interval = num()?,
            "enable_ordered_proxy" => self.enable_ordered_proxy = flag()?,
            "storage_type" => {
                self.storage_type = match value.trim().to_ascii_lowercase().as_str() {
                    "memory" => StorageType::Memory,
                    "http" => StorageType::Http,
                    "etcd" => StorageType::Etcd,
                    _ => return Err(invalid(key, value, "memory, http or etcd")),
                }
            }
            "recover_from_meta_file" => self.recover_from_meta_file = flag()?,
            "meta_filename" => self.meta_filename = value.to_string(),
            "auto_update_meta_file" => self.auto_update_meta_file = flag()?,
            "update_meta_file_interval" => self.update_meta_file_interval = num()?,
            "storage_name" => self.storage_name = value.to_string(),
            "storage_password" => self.storage_password = value.to_string(),
            "http_storage_address" => self.http_storage_address = value.to_string(),
            "refresh_interval" => self.refresh_interval = num()?,
            "etcd_endpoints" => self.etcd_endpoints = endpoints(key, value)?,
            "etcd_prefix" => {
                if !value.starts_with('/') {
                    return Err(invalid(key, value, "a key prefix starting with /"));
                }
                self.etcd_prefix = value.trim_end_matches('/').to_string();
            }
            "debug" => self.debug = flag()?,
            "metrics_address" => {
                let v = value.trim();
                self.metrics_address = (!v.is_empty()).then(|| v.to_string());
            }
            "compression_strategy"
            | "migration_max_migration_time"
            | "migration_max_blocking_time"
            | "migration_scan_interval"
            | "migration_scan_count" => self
                .cluster_config
                .set_field(key, value)
                .map_err(|_| invalid(key, value, "a valid cluster config value"))?,
            _ => return Err(ConfigError::UnknownKey(key.to_string())),
        }
        Ok(())
    }
}

/// `host:port` list; `http://` is stripped, `https://` refused (the gateway client speaks
/// plain HTTP only).
fn endpoints(key: &str, value: &str) -> Result<Vec<String>, ConfigError> {
    let list: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.strip_prefix("http://").unwrap_or(s).trim_end_matches('/'))
        .map(str::to_string)
        .collect();
    let well_formed = |e: &String| {
        !e.contains('/')
            && e.rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
    };
    if list.is_empty() || !list.iter().all(well_formed) {
        return Err(invalid(key, value, "a list of host:port (plain http)"));
    }
    Ok(list)
}

fn invalid(key: &str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_config_parses() {
        let c = BrokerConfig::from_parts(
            Some(include_str!("../mem-broker.toml")),
            None,
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(c.migration_limit, 2);
        assert!(c.auto_update_meta_file && c.recover_from_meta_file);
        assert_eq!(c.cluster_config.migration_config.max_migration_time, 3600);
    }

    #[test]
    fn file_then_env_and_errors_name_the_key() {
        let mut env = BTreeMap::new();
        env.insert("migration_limit".to_string(), "0".to_string());
        let c = BrokerConfig::from_parts(
            Some("address = \"127.0.0.1:1\"\nmigration_limit = 2\nreplica_addresses = [\"a:1\", \"b:2\"]\nauto_update_meta_file = true\nmigration_scan_count = 32\n"),
            None,
            &env,
        )
        .unwrap();
        assert_eq!(c.migration_limit, 0);
        assert_eq!(c.replica_addresses, ["a:1", "b:2"]);
        assert!(c.auto_update_meta_file);
        assert_eq!(c.cluster_config.migration_config.scan_count, 32);
        let e = BrokerConfig::from_parts(Some("nope = 1"), None, &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("`nope`"));
        let mut env = BTreeMap::new();
        env.insert("failure_ttl".to_string(), "x".to_string());
        let e = BrokerConfig::from_parts(None, None, &env).unwrap_err();
        assert!(e.to_string().contains("failure_ttl"));
        env.clear();
        env.insert("replica_addresses".to_string(), "a:1, b:2".to_string());
        let c = BrokerConfig::from_parts(None, None, &env).unwrap();
        assert_eq!(c.replica_addresses, ["a:1", "b:2"]);
        env.insert("storage_type".to_string(), "etcd".to_string());
        env.insert(
            "etcd_endpoints".to_string(),
            "http://127.0.0.1:2379, 10.0.0.2:2379/".to_string(),
        );
        env.insert("etcd_prefix".to_string(), "/prod/".to_string());
        let c = BrokerConfig::from_parts(None, None, &env).unwrap();
        assert_eq!(c.storage_type, StorageType::Etcd);
        assert_eq!(c.etcd_endpoints, ["127.0.0.1:2379", "10.0.0.2:2379"]);
        assert_eq!(c.etcd_prefix, "/prod");
        env.insert("etcd_endpoints".to_string(), "https://x:1".to_string());
        let e = BrokerConfig::from_parts(None, None, &env).unwrap_err();
        assert!(e.to_string().contains("etcd_endpoints"));
        env.remove("etcd_endpoints");
        env.insert("etcd_prefix".to_string(), "prod".to_string());
        assert!(BrokerConfig::from_parts(None, None, &env).is_err());
        env.remove("etcd_prefix");
        env.insert("compression_strategy".to_string(), "zip".to_string());
        assert!(BrokerConfig::from_parts(None, None, &env).is_err());
    }
}
