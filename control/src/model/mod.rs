//! The cluster metadata model shared by the broker, the coordinator and the proxy.
//!
//! Shapes and field names follow the original's JSON (spec 1.3) so that an operator can swap
//! binaries and keep their scripts. Readers ignore unknown fields (older brokers sent extra ones);
//! writers emit exactly these fields.

mod cluster;
mod config;
mod name;
mod node;
mod slot_range;

pub use cluster::{Cluster, MigrationTask, PeerProxy, Proxy};
pub use config::{ClusterConfig, CompressionStrategy, ConfigFieldError, MigrationConfig};
pub use name::{ClusterName, InvalidClusterName, MAX_CLUSTER_NAME_LEN};
pub use node::{Node, ReplMeta, ReplPeer, Role};
pub use slot_range::{
    MigrationMeta, RangeList, RangeListError, SlotRange, SlotRangeTag, SLOT_COUNT,
};

/// A metadata version number. The broker keeps a global epoch and one per cluster; a proxy
/// accepts new metadata only with a greater epoch (unless forced).
pub type Epoch = u64;
