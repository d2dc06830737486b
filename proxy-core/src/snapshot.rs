//! `ClusterSnapshot`: one accepted `UMCTL SETCLUSTER`, validated and turned into routing
//! data once, then shared read-only by every core (`Arc`), which each swap it in between
//! requests. See `docs/slot-table.md`.

use crate::slot::{Owner, SlotTable};
use control::model::{ClusterConfig, ClusterName, SlotRange, SlotRangeTag};
use control::umctl::SetCluster;

/// Most local backends or peers. why: the slot table tags indices with one bit.
pub const MAX_ADDRESSES: usize = 32_000;

/// Immutable routing state of one proxy.
#[derive(Debug, Clone, Default)]
pub struct ClusterSnapshot {
    /// Epoch of the SETCLUSTER it came from (0: never configured).
    pub epoch: u64,
    /// Orders snapshots across cores: a core installs only newer generations.
    pub generation: u64,
    /// Cluster served (empty: none).
    pub name: ClusterName,
    /// Local Redis addresses and their ranges; the index is the backend id.
    pub local: Vec<(String, Vec<SlotRange>)>,
    /// Peer proxies and their ranges; the index is the peer id.
    pub peer: Vec<(String, Vec<SlotRange>)>,
    /// Per-cluster config.
    pub config: ClusterConfig,
    /// Slot to owner.
    pub table: SlotTable,
    /// Migration tasks of the tagged local ranges (set by the registry on SETCLUSTER); empty
    /// when nothing migrates, which is all the request path checks then.
    pub migrations: Vec<std::sync::Arc<crate::migration::task::Task>>,
}

impl ClusterSnapshot {
    /// Builds the routing table of a decoded SETCLUSTER. Local ranges win over peer ranges
    /// (whatever their tag), as in the original.
    ///
    /// # Errors
    /// More than [`MAX_ADDRESSES`] local or peer addresses.
    pub fn build(sc: SetCluster, generation: u64) -> Result<Self, &'static str> {
        if sc.local.len() > MAX_ADDRESSES || sc.peer.len() > MAX_ADDRESSES {
            return Err("too many addresses");
        }
        let mut table = SlotTable::default();
        for (i, (_, ranges)) in sc.peer.iter().enumerate() {
            assign(&mut table, ranges, Owner::Peer(i as u16));
        }
        for (i, (_, ranges)) in sc.local.iter().enumerate() {
            assign(&mut table, ranges, Owner::Local(i as u16));
        }
        Ok(Self {
            epoch: sc.epoch,
            generation,
            name: sc.cluster_name,
            local: sc.local,
            peer: sc.peer,
            config: sc.config,
            table,
            migrations: Vec::new(),
        })
    }

    /// True when a (non-empty) cluster is configured.
    pub fn has_cluster(&self) -> bool {
        !self.name.is_empty()
    }

    /// `UMCTL READY`: at least one local range not tagged migrating.
    pub fn ready(&self) -> bool {
        self.local
            .iter()
            .flat_map(|(_, r)| r)
            .any(|r| !matches!(r.tag, SlotRangeTag::Migrating(_)) && !r.range_list.is_empty())
    }

    /// Address of local backend `i`.
    pub fn backend_addr(&self, i: u16) -> Option<&str> {
        self.local.get(usize::from(i)).map(|(a, _)| a.as_str())
    }

    /// Address of peer `i`.
    pub fn peer_addr(&self, i: u16) -> Option<&str> {
        self.peer.get(usize::from(i)).map(|(a, _)| a.as_str())
    }
}

fn assign(table: &mut SlotTable, ranges: &[SlotRange], owner: Owner) {
    for r in ranges {
        for &(lo, hi) in r.range_list.ranges() {
            table.assign(lo, hi, owner);
        }
    }
}

/// Host part of `host:port` (the whole string if there is no colon).
pub fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(s: &str) -> ClusterSnapshot {
        let args: Vec<&[u8]> = s.split(' ').map(str::as_bytes).collect();
        ClusterSnapshot::build(SetCluster::decode(&args).unwrap(), 1).unwrap()
    }

    #[test]
    fn local_wins_and_peers_map() {
        let s = snap("v2 1 NOFLAG db r:1 1 0-100 PEER p:1 1 50-16383");
        assert_eq!(s.table.owner(50), Owner::Local(0));
        assert_eq!(s.table.owner(101), Owner::Peer(0));
        assert_eq!(s.backend_addr(0), Some("r:1"));
        assert_eq!(s.peer_addr(0), Some("p:1"));
        assert!(s.ready());
        assert!(s.has_cluster());
        assert!(!ClusterSnapshot::default().ready());
        assert_eq!(host_of("127.0.0.1:5299"), "127.0.0.1");
    }

    #[test]
    fn only_migrating_is_not_ready() {
        let s = snap("v2 1 NOFLAG db r:1 migrating 1 0-100 2 a:1 r:1 b:1 c:1");
        assert!(!s.ready());
    }
}
