//! What the config loaders of `mem_broker` and `coordinator` share: the environment prefix of
//! their `UNDERMOON_<KEY>` overrides and the error a config that cannot be used gives.

/// Prefix of every environment override: `UNDERMOON_<KEY_IN_UPPER_CASE>`.
pub const ENV_PREFIX: &str = "UNDERMOON_";

/// A config that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed.
    #[error("config file {path}: {message}")]
    File {
        /// File path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A key this binary does not know.
    #[error("unknown config key `{0}`")]
    UnknownKey(String),
    /// A known key with a value of the wrong form.
    #[error("invalid value `{value}` for config key `{key}`: {expected}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value as given.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}
