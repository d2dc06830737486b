//! Cluster names: ASCII letters, digits, `@`, `-`, `_`, at most 31 bytes (spec 1.4).

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Longest accepted cluster name, in bytes.
pub const MAX_CLUSTER_NAME_LEN: usize = 31;

/// The name is empty where it must not be, too long, or has a character outside the set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cluster name `{0}`")]
pub struct InvalidClusterName(pub String);

/// A validated cluster name. The empty name means "no cluster" inside a proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ClusterName(String);

impl ClusterName {
    /// Validates `s`; the empty string is accepted (a free proxy's cluster).
    ///
    /// # Errors
    /// Longer than 31 bytes or a character outside `[A-Za-z0-9@_-]`.
    pub fn new(s: &str) -> Result<Self, InvalidClusterName> {
        let ok = s.len() <= MAX_CLUSTER_NAME_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'-' | b'_'));
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidClusterName(s.to_string()))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the "no cluster" name.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ClusterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ClusterName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ClusterName::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(ClusterName::new("my-cluster_1@x").is_ok());
        assert!(ClusterName::new("").is_ok());
        assert!(ClusterName::new(&"a".repeat(31)).is_ok());
        assert!(ClusterName::new(&"a".repeat(32)).is_err());
        assert!(ClusterName::new("a b").is_err());
        assert!(ClusterName::new("é").is_err());
    }
}
