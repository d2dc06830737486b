//! Per-cluster configuration carried by the broker and pushed to proxies (SETCLUSTER `CONFIG`).

use serde::{Deserialize, Serialize};

/// How the proxy compresses string values (spec 2.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompressionStrategy {
    /// Values pass through untouched.
    #[default]
    Disabled,
    /// Compress SET/GET-family values; refuse string commands that would see compressed bytes.
    SetGetOnly,
    /// Compress SET/GET-family values; let every other command through untouched.
    AllowAll,
}

impl CompressionStrategy {
    /// Reads `disabled|set_get_only|allow_all` in any case.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Disabled, Self::SetGetOnly, Self::AllowAll]
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
    }

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::SetGetOnly => "set_get_only",
            Self::AllowAll => "allow_all",
        }
    }
}

/// Pacing and limits of slot migration (spec 3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MigrationConfig {
    /// Seconds a migration may take before it is abandoned.
    pub max_migration_time: u64,
    /// Milliseconds the source may block traffic during the switch.
    pub max_blocking_time: u64,
    /// Microseconds to wait between SCAN batches.
    pub scan_interval: u64,
    /// Keys asked for per SCAN; must be > 0. Default 128, not the original's 16: with 16
    /// a move took 2.2x as long as `redis-cli --cluster reshard`, with 128 a fraction of it,
    /// and a concurrent client kept more of its throughput (docs/benchmarks.md).
    pub scan_count: u64,
}

impl Default for MigrationConfig {
    fn default() -> Self {
        Self {
            max_migration_time: 10800,
            max_blocking_time: 10000,
            scan_interval: 500,
            scan_count: 128,
        }
    }
}

/// Per-cluster configuration. Both fields are optional on input; if `migration_config` is
/// present all four of its fields are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// Value compression.
    #[serde(default)]
    pub compression_strategy: CompressionStrategy,
    /// Migration pacing.
    #[serde(default)]
    pub migration_config: MigrationConfig,
}

/// Why a `field value` pair could not be applied to a [`ClusterConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigFieldError {
    /// The field name is not a cluster config field.
    #[error("unknown field `{0}`")]
    UnknownField(String),
    /// The value does not fit the field.
    #[error("invalid value `{value}` for `{field}`")]
    InvalidValue {
        /// Field name as given.
        field: String,
        /// Value as given.
        value: String,
    },
}

impl ClusterConfig {
    /// The `field value` pairs of SETCLUSTER's `CONFIG` section and the broker's config keys.
    pub const FIELDS: [&'static str; 5] = [
        "compression_strategy",
        "migration_max_migration_time",
        "migration_max_blocking_time",
        "migration_scan_interval",
        "migration_scan_count",
    ];

    /// Sets one field by its flat name (case-insensitive), as in `UMCTL SETCLUSTER ... CONFIG`
    /// and the broker's `PATCH /clusters/config`.
    ///
    /// # Errors
    /// Unknown field, unparsable value, or `migration_scan_count` of 0.
    pub fn set_field(&mut self, field: &str, value: &str) -> Result<(), ConfigFieldError> {
        let invalid = || ConfigFieldError::InvalidValue {
            field: field.to_string(),
            value: value.to_string(),
        };
        let num = || value.parse::<u64>().map_err(|_| invalid());
        let mc = &mut self.migration_config;
        match field.to_ascii_lowercase().as_str() {
            "compression_strategy" => {
                self.compression_strategy = CompressionStrategy::parse(value).ok_or_else(invalid)?
            }
            "migration_max_migration_time" => mc.max_migration_time = num()?,
            "migration_max_blocking_time" => mc.max_blocking_time = num()?,
            "migration_scan_interval" => mc.scan_interval = num()?,
            "migration_scan_count" => match num()? {
                0 => return Err(invalid()),
                n => mc.scan_count = n,
            },
            _ => return Err(ConfigFieldError::UnknownField(field.to_string())),
        }
        Ok(())
    }

    /// The flat `field value` pairs, in [`Self::FIELDS`] order.
    pub fn to_fields(&self) -> [(&'static str, String); 5] {
        let mc = &self.migration_config;
        [
            (
                "compression_strategy",
                self.compression_strategy.as_str().to_string(),
            ),
            (
                "migration_max_migration_time",
                mc.max_migration_time.to_string(),
            ),
            (
                "migration_max_blocking_time",
                mc.max_blocking_time.to_string(),
            ),
            ("migration_scan_interval", mc.scan_interval.to_string()),
            ("migration_scan_count", mc.scan_count.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_defaults_and_shape() {
        let c: ClusterConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, ClusterConfig::default());
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"compression_strategy":"disabled","migration_config":{"max_migration_time":10800,"max_blocking_time":10000,"scan_interval":500,"scan_count":128}}"#
        );
        assert!(serde_json::from_str::<ClusterConfig>(
            r#"{"migration_config":{"max_migration_time":1}}"#
        )
        .is_err());
    }

    #[test]
    fn flat_fields_round_trip() {
        let mut c = ClusterConfig::default();
        c.set_field("COMPRESSION_STRATEGY", "Set_Get_Only").unwrap();
        c.set_field("migration_scan_count", "32").unwrap();
        assert!(c.set_field("migration_scan_count", "0").is_err());
        assert!(c.set_field("nope", "1").is_err());
        let mut d = ClusterConfig::default();
        for (f, v) in c.to_fields() {
            d.set_field(f, &v).unwrap();
        }
        assert_eq!(c, d);
    }
}
