//! `server_proxy` configuration: an optional TOML file, then `UNDERMOON_<KEY>` environment
//! overrides, with the keys and defaults of spec 2.2. Unknown file keys are an error naming
//! the key (a typo must not silently fall back to a default).

use crate::cluster_reply::NodesVersion;
use serde::Deserialize;
use std::path::Path;

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path given.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrongly typed value.
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// All keys of spec 2.2; `thread_number` defaults to the CPUs this process may run on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)] // why: each field is documented in spec 2.2 and docs/architecture.md.
pub struct ProxyConfig {
    pub address: String,
    pub announce_address: String,
    pub slowlog_len: u64,
    pub slowlog_log_slower_than: i64,
    pub slowlog_sample_rate: u64,
    pub thread_number: Option<usize>,
    pub backend_conn_num: usize,
    pub backend_batch_strategy: String,
    pub backend_flush_size: u64,
    pub backend_low_flush_interval: u64,
    pub backend_high_flush_interval: u64,
    pub session_timeout: u64,
    pub backend_timeout: u64,
    pub password: Option<String>,
    /// Ours: when set, `UMCTL` needs `AUTH <control_password>` on the connection first (see
    /// docs/umctl.md). Unset: UMCTL is open, as in the original, whose coordinator never
    /// authenticates.
    pub control_password: Option<String>,
    pub active_redirection: bool,
    pub max_redirections: Option<u64>,
    pub default_redirection_address: String,
    pub cluster_nodes_version: String,
    /// Ours: most bytes of incomplete request buffered per client; over it the connection
    /// closes with `-ERR Protocol error: request too big`. Redis' `client-query-buffer-limit`.
    pub client_query_buffer_limit: usize,
    /// Ours: most replies owed to one client before the proxy stops reading its requests.
    pub client_max_pending_replies: usize,
    /// Ours: most bytes of ready replies a client has not read before the proxy stops reading
    /// its requests (back-pressure, not disconnection).
    pub client_output_buffer_limit: usize,
    /// Ours: `host:port` of the Prometheus metrics endpoint; unset or empty: none.
    pub metrics_address: Option<String>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:5299".to_string(),
            announce_address: String::new(),
            slowlog_len: 1024,
            slowlog_log_slower_than: 50000,
            slowlog_sample_rate: 1000,
            thread_number: None,
            backend_conn_num: 2,
            backend_batch_strategy: "disabled".to_string(),
            backend_flush_size: 1024,
            backend_low_flush_interval: 200_000,
            backend_high_flush_interval: 600_000,
            session_timeout: 0,
            backend_timeout: 3000,
            password: None,
            control_password: None,
            active_redirection: false,
            max_redirections: None,
            default_redirection_address: String::new(),
            cluster_nodes_version: "v2".to_string(),
            client_query_buffer_limit: 1024 * 1024 * 1024,
            client_max_pending_replies: 1024,
            client_output_buffer_limit: 32 * 1024 * 1024,
            metrics_address: None,
        }
    }
}

#[derive(Clone, Copy)]
enum Ty {
    Str,
    Int,
    Bool,
}

const KEYS: [(&str, Ty); 23] = [
    ("address", Ty::Str),
    ("announce_address", Ty::Str),
    ("slowlog_len", Ty::Int),
    ("slowlog_log_slower_than", Ty::Int),
    ("slowlog_sample_rate", Ty::Int),
    ("thread_number", Ty::Int),
    ("backend_conn_num", Ty::Int),
    ("backend_batch_strategy", Ty::Str),
    ("backend_flush_size", Ty::Int),
    ("backend_low_flush_interval", Ty::Int),
    ("backend_high_flush_interval", Ty::Int),
    ("session_timeout", Ty::Int),
    ("backend_timeout", Ty::Int),
    ("password", Ty::Str),
    ("control_password", Ty::Str),
    ("active_redirection", Ty::Bool),
    ("max_redirections", Ty::Int),
    ("default_redirection_address", Ty::Str),
    ("cluster_nodes_version", Ty::Str),
    ("client_query_buffer_limit", Ty::Int),
    ("client_max_pending_replies", Ty::Int),
    ("client_output_buffer_limit", Ty::Int),
    ("metrics_address", Ty::Str),
];

impl ProxyConfig {
    /// Reads the file at `path` (if any), then applies `UNDERMOON_*` variables from `env`.
    ///
    /// # Errors
    /// Unreadable file, bad TOML, unknown key, wrong type, or a value out of range.
    pub fn load<I>(path: Option<&Path>, env: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut table = match path {
            None => toml::Table::new(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Invalid(e.to_string()))?
            }
        };
        let env: Vec<(String, String)> = env.into_iter().collect();
        for (key, ty) in KEYS {
            let var = format!("UNDERMOON_{}", key.to_ascii_uppercase());
            let Some((_, raw)) = env.iter().find(|(k, _)| *k == var) else {
                continue;
            };
            let value = match ty {
                Ty::Str => toml::Value::String(raw.clone()),
                Ty::Int => toml::Value::Integer(raw.trim().parse().map_err(|_| {
                    ConfigError::Invalid(format!("{var}: `{raw}` is not an integer"))
                })?),
                Ty::Bool => toml::Value::Boolean(raw.trim().parse().map_err(|_| {
                    ConfigError::Invalid(format!("{var}: `{raw}` is not true or false"))
                })?),
            };
            table.insert(key.to_string(), value);
        }
        let mut cfg: ProxyConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.thread_number == Some(0) {
            return bad("thread_number must be > 0");
        }
        if self.backend_conn_num == 0 {
            return bad("backend_conn_num must be > 0");
        }
        if self.slowlog_len == 0 {
            return bad("slowlog_len must be > 0");
        }
        if self.client_query_buffer_limit == 0
            || self.client_max_pending_replies == 0
            || self.client_output_buffer_limit == 0
        {
            return bad("client_query_buffer_limit, client_max_pending_replies and client_output_buffer_limit must be > 0");
        }
        if self
            .metrics_address
            .as_deref()
            .is_some_and(|a| a.trim().is_empty())
        {
            self.metrics_address = None;
        }
        if self.announce_address.is_empty() {
            self.announce_address = self.address.clone();
        }
        if let Some(m) = self.max_redirections.as_mut() {
            // why: the original clamps to 4 hops.
            *m = (*m).min(4);
        }
        if self.password.as_deref() == Some("") {
            self.password = None;
        }
        if self.control_password.as_deref() == Some("") {
            self.control_password = None;
        }
        Ok(())
    }

    /// `cluster_nodes_version` (unknown values mean v2, like the original).
    pub fn nodes_version(&self) -> NodesVersion {
        if self.cluster_nodes_version.eq_ignore_ascii_case("v1") {
            NodesVersion::V1
        } else {
            NodesVersion::V2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_file_and_env() {
        let c = ProxyConfig::load(None, env(&[])).unwrap();
        assert_eq!(c.address, "127.0.0.1:5299");
        assert_eq!(c.announce_address, "127.0.0.1:5299");
        assert_eq!(c.backend_timeout, 3000);
        let mut f = tempfile();
        writeln!(
            f.1,
            "address = \"127.0.0.1:7000\"\nthread_number = 1\nmax_redirections = 9"
        )
        .unwrap();
        let c = ProxyConfig::load(
            Some(&f.0),
            env(&[
                ("UNDERMOON_ANNOUNCE_ADDRESS", "10.0.0.1:7000"),
                ("UNDERMOON_ACTIVE_REDIRECTION", "true"),
                ("UNDERMOON_OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.address, "127.0.0.1:7000");
        assert_eq!(c.announce_address, "10.0.0.1:7000");
        assert_eq!(c.thread_number, Some(1));
        assert_eq!(c.max_redirections, Some(4));
        assert!(c.active_redirection);
        f.1.flush().unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let mut f = tempfile();
        writeln!(f.1, "adress = \"x\"").unwrap();
        let e = ProxyConfig::load(Some(&f.0), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("adress"), "{e}");
        let e = ProxyConfig::load(None, env(&[("UNDERMOON_THREAD_NUMBER", "two")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("UNDERMOON_THREAD_NUMBER"), "{e}");
        assert!(ProxyConfig::load(None, env(&[("UNDERMOON_BACKEND_CONN_NUM", "0")])).is_err());
        assert!(
            ProxyConfig::load(None, env(&[("UNDERMOON_CLIENT_MAX_PENDING_REPLIES", "0")])).is_err()
        );
    }

    #[test]
    fn client_caps_and_metrics_address() {
        let c = ProxyConfig::load(None, env(&[])).unwrap();
        assert_eq!(c.client_query_buffer_limit, 1 << 30);
        assert_eq!(c.client_max_pending_replies, 1024);
        assert_eq!(c.metrics_address, None);
        let mut f = tempfile();
        writeln!(
            f.1,
            "client_output_buffer_limit = 4096\nmetrics_address = \"\""
        )
        .unwrap();
        let c = ProxyConfig::load(
            Some(&f.0),
            env(&[
                ("UNDERMOON_CLIENT_QUERY_BUFFER_LIMIT", "65536"),
                ("UNDERMOON_CLIENT_MAX_PENDING_REPLIES", "16"),
            ]),
        )
        .unwrap();
        assert_eq!(c.client_output_buffer_limit, 4096);
        assert_eq!(c.client_query_buffer_limit, 65536);
        assert_eq!(c.client_max_pending_replies, 16);
        assert_eq!(c.metrics_address, None);
        let c = ProxyConfig::load(
            None,
            env(&[("UNDERMOON_METRICS_ADDRESS", "127.0.0.1:9121")]),
        )
        .unwrap();
        assert_eq!(c.metrics_address.as_deref(), Some("127.0.0.1:9121"));
    }

    fn tempfile() -> (std::path::PathBuf, std::fs::File) {
        let p = std::env::temp_dir().join(format!(
            "proxy-config-test-{}-{:?}.toml",
            std::process::id(),
            std::thread::current().id()
        ));
        let f = std::fs::File::create(&p).unwrap();
        (p, f)
    }
}
