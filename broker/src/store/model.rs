//! The broker's stored model (spec 4.2): what the metadata file, `GET /metadata`, replica sync
//! and the external store carry. Only the broker reads it; everyone else sees the views of
//! [`super::view`].
//!
//! Field names are the original's so that a metadata file or replica stream from an original
//! broker loads here and the other way round.

use control::model::{ClusterConfig, RangeList};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The `version` every stored document carries; anything else is refused.
pub const META_VERSION: &str = "mem-broker-0.2";

/// Everything the broker knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaStore {
    /// Always [`META_VERSION`].
    pub version: String,
    /// Bumped by every state change.
    pub global_epoch: u64,
    /// Clusters by name.
    pub clusters: BTreeMap<String, ClusterStore>,
    /// Every registered proxy, free or not, by address.
    pub all_proxies: BTreeMap<String, ProxyResource>,
    /// Proxies that were failed over and not re-registered yet.
    pub failed_proxies: BTreeSet<String>,
    /// Failure reports: proxy -> reporter id -> unix seconds of the first report.
    pub failures: BTreeMap<String, BTreeMap<String, i64>>,
    /// Ordered (StatefulSet) mode, spec 4.12.
    pub enable_ordered_proxy: bool,
}

impl MetaStore {
    /// An empty store.
    pub fn new(enable_ordered_proxy: bool) -> Self {
        Self {
            version: META_VERSION.to_string(),
            global_epoch: 0,
            clusters: BTreeMap::new(),
            all_proxies: BTreeMap::new(),
            failed_proxies: BTreeSet::new(),
            failures: BTreeMap::new(),
            enable_ordered_proxy,
        }
    }

    /// Bumps the global epoch and returns the new value.
    pub fn bump_global_epoch(&mut self) -> u64 {
        self.global_epoch = self.global_epoch.saturating_add(1);
        self.global_epoch
    }
}

/// A registered proxy and its two Redis nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyResource {
    /// Proxy `host:port`.
    pub proxy_address: String,
    /// The two Redis nodes behind it.
    pub node_addresses: [String; 2],
    /// Machine it runs on (anti-affinity unit).
    pub host: String,
    /// StatefulSet ordinal in ordered mode, else 0.
    pub index: usize,
    /// Cluster it serves, or null when free.
    pub cluster: Option<String>,
}

/// One cluster: its chunks in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterStore {
    /// Set to the global epoch whenever the cluster changes.
    pub epoch: u64,
    /// Cluster name.
    pub name: String,
    /// Chunks: 2 proxies, 4 nodes, 2 masters each.
    pub chunks: Vec<ChunkStore>,
    /// Per-cluster config.
    pub config: ClusterConfig,
}

impl ClusterStore {
    /// True while any chunk part has a migrating or importing range.
    pub fn is_migrating(&self) -> bool {
        self.chunks
            .iter()
            .any(|c| c.migrating_slots.iter().any(|m| !m.is_empty()))
    }
}

/// Which nodes of a chunk are masters (spec 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RolePosition {
    /// Nodes 0 and 2: each proxy has one master and one replica.
    Normal,
    /// Nodes 0 and 1: proxy 0 took over after proxy 1 failed.
    FirstChunkMaster,
    /// Nodes 2 and 3: proxy 1 took over after proxy 0 failed.
    SecondChunkMaster,
}

/// Two proxies on two hosts, four nodes: `n0,n1` behind proxy 0 and `n2,n3` behind proxy 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkStore {
    /// Which nodes are masters.
    pub role_position: RolePosition,
    /// Stable slots of part 0 (pair n0/n3) and part 1 (pair n1/n2).
    pub stable_slots: [Option<control::model::SlotRange>; 2],
    /// Migrations touching each part.
    pub migrating_slots: [Vec<MigrationSlotRangeStore>; 2],
    /// Proxy 0 and proxy 1.
    pub proxy_addresses: [String; 2],
    /// Host of proxy 0 and of proxy 1.
    pub hosts: [String; 2],
    /// The four nodes.
    pub node_addresses: [String; 4],
}

impl ChunkStore {
    /// True when neither part owns or moves any slot.
    pub fn is_slotless(&self) -> bool {
        self.stable_slots
            .iter()
            .all(|s| s.as_ref().is_none_or(|r| r.range_list.is_empty()))
            && self.migrating_slots.iter().all(Vec::is_empty)
    }
}

/// One side of a migration, stored in the part it leaves (`is_migrating`) or enters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationSlotRangeStore {
    /// Slots moved.
    pub range_list: RangeList,
    /// True on the source side.
    pub is_migrating: bool,
    /// Where from, where to, and since which epoch.
    pub meta: MigrationMetaStore,
}

/// Migration endpoints as chunk positions, so a replaced proxy changes the rendered addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationMetaStore {
    /// Epoch at which the migration started (bumped on failover).
    pub epoch: u64,
    /// Source chunk index.
    pub src_chunk_index: usize,
    /// Source part (0 or 1).
    pub src_chunk_part: usize,
    /// Destination chunk index.
    pub dst_chunk_index: usize,
    /// Destination part (0 or 1).
    pub dst_chunk_part: usize,
}
