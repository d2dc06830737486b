//! `coordinator` configuration (spec 5.1): an optional TOML file, then `UNDERMOON_<KEY>`
//! environment overrides (env wins). Unknown keys and bad values are errors naming the key.

use std::collections::BTreeMap;
use std::path::Path;

/// Every key of spec 5.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorConfig {
    /// Its own Redis-protocol admin port.
    pub address: String,
    /// Brokers, used in turn (TOML: a string or an array; env: comma-separated).
    pub brokers: Vec<String>,
    /// Identity in failure reports; unique per coordinator (default: `address`).
    pub reporter_id: String,
    /// Worker threads calling proxies in parallel (at least 1).
    pub thread_number: usize,
    /// Seconds: connect and command timeout towards proxies and brokers.
    pub proxy_timeout: u64,
    /// Send SETCLUSTER in the COMPRESS form and ask brokers for gzip.
    pub enable_compression: bool,
    /// Detect and report failures, but never ask for a failover.
    pub disable_failover: bool,
    /// Ours: the proxies' `control_password`, sent as `AUTH` on each new proxy connection
    /// (unset or empty: none).
    pub control_password: Option<String>,
    /// Ours: `host:port` of the Prometheus metrics endpoint; unset or empty: none.
    pub metrics_address: Option<String>,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:6699".into(),
            brokers: vec!["127.0.0.1:7799".into()],
            reporter_id: String::new(),
            thread_number: 4,
            proxy_timeout: 2,
            enable_compression: false,
            disable_failover: false,
            control_password: None,
            metrics_address: None,
        }
    }
}

pub use crate::config::ConfigError;
use crate::config::ENV_PREFIX;

/// Splits a comma-separated broker list, dropping empty items.
pub fn split_brokers(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(str::to_string)
        .collect()
}

impl CoordinatorConfig {
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
        Self::from_parts(file.as_deref(), &env)
    }

    /// Builds a config from TOML text and env pairs (keys lower-case, without the prefix).
    /// Env variables that are not coordinator keys are ignored (other binaries share the
    /// prefix); unknown keys in the file are errors.
    ///
    /// # Errors
    /// As [`CoordinatorConfig::load`].
    pub fn from_parts(
        toml_text: Option<&str>,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        if let Some(text) = toml_text {
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::File {
                        path: "coordinator config".into(),
                        message: e.to_string(),
                    })?;
            for (key, value) in &table {
                let text = match value {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Array(items) if key == "broker_address" => items
                        .iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                c.set(key, &text)?;
            }
        }
        for (key, value) in env {
            if KEYS.contains(&key.as_str()) {
                c.set(key, value)?;
            }
        }
        if c.reporter_id.is_empty() {
            c.reporter_id = c.address.clone();
        }
        Ok(c)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let invalid = |expected| ConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            expected,
        };
        let boolean = |v: &str| match v.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(invalid("true or false")),
        };
        match key {
            "address" => self.address = value.to_string(),
            "broker_address" => {
                let list = split_brokers(value);
                if list.is_empty() {
                    return Err(invalid("at least one broker address"));
                }
                self.brokers = list;
            }
            "reporter_id" => self.reporter_id = value.to_string(),
            "thread_number" => {
                let n: usize = value.parse().map_err(|_| invalid("a positive integer"))?;
                self.thread_number = n.max(1);
            }
            "proxy_timeout" => {
                let n: u64 = value.parse().map_err(|_| invalid("seconds, at least 1"))?;
                if n == 0 {
                    return Err(invalid("seconds, at least 1"));
                }
                self.proxy_timeout = n;
            }
            "enable_compression" => self.enable_compression = boolean(value)?,
            "disable_failover" => self.disable_failover = boolean(value)?,
            "control_password" => {
                self.control_password = (!value.is_empty()).then(|| value.to_string());
            }
            "metrics_address" => {
                let v = value.trim();
                self.metrics_address = (!v.is_empty()).then(|| v.to_string());
            }
            other => return Err(ConfigError::UnknownKey(other.to_string())),
        }
        Ok(())
    }
}

const KEYS: &[&str] = &[
    "address",
    "broker_address",
    "reporter_id",
    "thread_number",
    "proxy_timeout",
    "enable_compression",
    "disable_failover",
    "control_password",
    "metrics_address",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_file_and_env() {
        let c = CoordinatorConfig::from_parts(None, &BTreeMap::new()).unwrap();
        assert_eq!(c.reporter_id, "127.0.0.1:6699");
        assert_eq!(c.brokers, vec!["127.0.0.1:7799".to_string()]);
        let file = "address = \"127.0.0.1:1\"\nbroker_address = [\"a:1\", \"b:2\"]\n\
                    thread_number = 2\nproxy_timeout = 1\ndisable_failover = true\n";
        let mut env = BTreeMap::new();
        env.insert("reporter_id".to_string(), "r1".to_string());
        env.insert("thread_number".to_string(), "3".to_string());
        env.insert("log_level".to_string(), "x".to_string());
        let c = CoordinatorConfig::from_parts(Some(file), &env).unwrap();
        assert_eq!(c.brokers, vec!["a:1".to_string(), "b:2".to_string()]);
        assert_eq!(
            (c.thread_number, c.proxy_timeout, c.disable_failover),
            (3, 1, true)
        );
        assert_eq!(c.reporter_id, "r1");
        assert_eq!(c.control_password, None);
        env.insert("control_password".to_string(), "pw".to_string());
        let c = CoordinatorConfig::from_parts(None, &env).unwrap();
        assert_eq!(c.control_password.as_deref(), Some("pw"));
        env.insert("control_password".to_string(), String::new());
        let c = CoordinatorConfig::from_parts(None, &env).unwrap();
        assert_eq!(c.control_password, None, "empty means none");
        assert_eq!(c.metrics_address, None);
        env.insert("metrics_address".to_string(), "127.0.0.1:9122".to_string());
        let c = CoordinatorConfig::from_parts(Some(file), &env).unwrap();
        assert_eq!(c.metrics_address.as_deref(), Some("127.0.0.1:9122"));
    }

    #[test]
    fn errors_name_the_key() {
        let e = CoordinatorConfig::from_parts(Some("nope = 1"), &BTreeMap::new()).unwrap_err();
        assert_eq!(e, ConfigError::UnknownKey("nope".into()));
        let e =
            CoordinatorConfig::from_parts(Some("proxy_timeout = 0"), &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("proxy_timeout"), "{e}");
    }
}
