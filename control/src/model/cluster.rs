//! The cluster and proxy views the broker serves (`GET /clusters/meta/<name>`,
//! `GET /proxies/meta/<addr>`) and the migration task shape the coordinator commits.

use super::{ClusterConfig, ClusterName, Epoch, Node, SlotRange};
use serde::{Deserialize, Serialize};

/// A cluster as the broker shows it: every node, chunk by chunk (4 nodes per chunk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// Cluster name.
    pub name: ClusterName,
    /// Cluster epoch: bumped by every change to this cluster.
    pub epoch: Epoch,
    /// Nodes, masters and replicas.
    pub nodes: Vec<Node>,
    /// Per-cluster config.
    pub config: ClusterConfig,
}

/// Another proxy of the same cluster and the slots its masters own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerProxy {
    /// Peer proxy `host:port`.
    pub proxy_address: String,
    /// All slots of the peer's master nodes.
    pub slots: Vec<SlotRange>,
}

/// What one proxy must know: its own nodes, its peers, and the cluster config. A free proxy has
/// no cluster, no peers, no config, and lists its two free nodes with no slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proxy {
    /// Cluster served, or null for a free proxy.
    pub cluster_name: Option<ClusterName>,
    /// This proxy's `host:port`.
    pub address: String,
    /// Cluster epoch (global epoch for a free proxy).
    pub epoch: Epoch,
    /// The Redis nodes behind this proxy.
    pub nodes: Vec<Node>,
    /// Other proxies with master nodes.
    pub peers: Vec<PeerProxy>,
    /// Config of the cluster served, or null for a free proxy.
    pub cluster_config: Option<ClusterConfig>,
}

/// A finished (or running) migration as reported by a proxy and committed to the broker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MigrationTask {
    /// Cluster the range belongs to.
    pub cluster_name: ClusterName,
    /// The range, tagged `Migrating` or `Importing`.
    pub slot_range: SlotRange,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_proxy_json_shape_reads_and_ignores_unknown_fields() {
        let p: Proxy = serde_json::from_str(
            r#"{"cluster_name":null,"address":"127.0.0.1:6001","epoch":3,
            "nodes":[{"address":"127.0.0.1:7001","proxy_address":"127.0.0.1:6001","slots":[],
            "repl":{"role":"master","peers":[]}}],"peers":[],"cluster_config":null,
            "free_nodes":[]}"#,
        )
        .unwrap();
        assert_eq!(p.cluster_name, None);
        assert_eq!(p.nodes.len(), 1);
        let back = serde_json::to_value(&p).unwrap();
        assert!(back.get("free_nodes").is_none());
        assert_eq!(back["cluster_config"], serde_json::Value::Null);
    }
}
