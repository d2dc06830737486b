//! A Redis node as the broker describes it: its address, the proxy in front of it, its slots and
//! its replication role.

use super::SlotRange;
use serde::{Deserialize, Deserializer, Serialize};

/// Replication role of a Redis node. JSON `"master"` / `"replica"`, read case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Serves writes.
    Master,
    /// Follows a master.
    Replica,
}

impl Role {
    /// Reads `master` / `replica` in any case.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("master") {
            Some(Role::Master)
        } else if s.eq_ignore_ascii_case("replica") {
            Some(Role::Replica)
        } else {
            None
        }
    }

    /// Lower-case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Replica => "replica",
        }
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Role::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("invalid role `{s}`")))
    }
}

/// The other end of a replication link.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplPeer {
    /// Redis `host:port` of the peer.
    pub node_address: String,
    /// Proxy `host:port` in front of the peer.
    pub proxy_address: String,
}

/// A node's role and its peers: replicas for a master, its master for a replica.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplMeta {
    /// Master or replica.
    pub role: Role,
    /// Replicas of a master, or the master of a replica (only the first is used).
    pub peers: Vec<ReplPeer>,
}

/// A Redis node in a cluster (or a free node, with no slots).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Node {
    /// Redis `host:port`.
    pub address: String,
    /// Proxy `host:port` serving this node.
    pub proxy_address: String,
    /// Slots of this node: stable range first, then migrating/importing ranges.
    pub slots: Vec<SlotRange>,
    /// Replication role and peers.
    pub repl: ReplMeta,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_reads_any_case_and_writes_lower() {
        let r: Role = serde_json::from_str("\"MASTER\"").unwrap();
        assert_eq!(r, Role::Master);
        assert_eq!(
            serde_json::to_string(&Role::Replica).unwrap(),
            "\"replica\""
        );
        assert!(serde_json::from_str::<Role>("\"leader\"").is_err());
    }
}
