//! Renders the stored chunks into the views other processes read (spec 4.3): the cluster view,
//! the per-proxy view and the cluster info, all after the migration limit of spec 4.10.
//!
//! Node roles come from the chunk's [`RolePosition`]: part 0 is the pair n0/n3, part 1 the pair
//! n1/n2, and the role position says which node of each pair is the master.

use super::model::{ChunkStore, ClusterStore, MetaStore, MigrationSlotRangeStore, RolePosition};
use super::StoreError;
use control::model::{
    Cluster, ClusterName, MigrationMeta, Node, PeerProxy, Proxy, RangeList, ReplMeta, ReplPeer,
    Role, SlotRange, SlotRangeTag,
};
use serde::Serialize;

/// `GET /clusters/info/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterInfo {
    /// Cluster name.
    pub name: String,
    /// All nodes, with or without slots.
    pub node_number: usize,
    /// Nodes whose master part owns or moves slots.
    pub node_number_with_slots: usize,
    /// A migration is visible.
    pub is_migrating: bool,
}

/// Index (0..4) of the master node of `part` (0 or 1).
pub fn master_index(role: RolePosition, part: usize) -> usize {
    match (part, role) {
        (0, RolePosition::SecondChunkMaster) => 3,
        (0, _) => 0,
        (_, RolePosition::FirstChunkMaster) => 1,
        (_, _) => 2,
    }
}

/// Index of the replica node of `part`: the other node of its pair.
pub fn replica_index(role: RolePosition, part: usize) -> usize {
    // why: the pairs are {0,3} and {1,2}, so the other member of a pair is always 3 - i.
    3 - master_index(role, part)
}

/// Part (0 or 1) a node index belongs to.
pub fn part_of(node: usize) -> usize {
    if node == 0 || node == 3 {
        0
    } else {
        1
    }
}

fn broken(what: &str) -> StoreError {
    StoreError::Internal(format!("inconsistent metadata: {what}"))
}

/// The master node's (proxy address, node address) of one chunk part.
pub fn master_addresses(chunk: &ChunkStore, part: usize) -> Result<(String, String), StoreError> {
    let m = master_index(chunk.role_position, part);
    let node = chunk.node_addresses.get(m).ok_or_else(|| broken("node"))?;
    let proxy = chunk
        .proxy_addresses
        .get(m / 2)
        .ok_or_else(|| broken("proxy"))?;
    Ok((proxy.clone(), node.clone()))
}

type MigKey = (usize, usize, usize, usize, u64, RangeList);

fn key(m: &MigrationSlotRangeStore) -> MigKey {
    let x = &m.meta;
    (
        x.src_chunk_index,
        x.src_chunk_part,
        x.dst_chunk_index,
        x.dst_chunk_part,
        x.epoch,
        m.range_list.clone(),
    )
}

/// Migrations hidden by the limit: after `limit` shown (0 = no limit), and after the first
/// one of each source part, in chunk order.
fn hidden_migrations(cluster: &ClusterStore, limit: u64) -> Vec<MigKey> {
    let mut hidden = Vec::new();
    if limit == 0 {
        return hidden;
    }
    let mut shown = 0u64;
    for chunk in &cluster.chunks {
        for part in &chunk.migrating_slots {
            let mut part_shown = false;
            for m in part.iter().filter(|m| m.is_migrating) {
                if shown < limit && !part_shown {
                    shown += 1;
                    part_shown = true;
                } else {
                    hidden.push(key(m));
                }
            }
        }
    }
    hidden
}

/// Slots of one part as the limited view shows them on its master.
fn part_slots(
    cluster: &ClusterStore,
    chunk: &ChunkStore,
    part: usize,
    hidden: &[MigKey],
) -> Result<Vec<SlotRange>, StoreError> {
    let mut stable: Vec<(u64, u64)> = chunk
        .stable_slots
        .get(part)
        .and_then(Option::as_ref)
        .map(|s| pairs(&s.range_list))
        .unwrap_or_default();
    let mut moving = Vec::new();
    let entries = chunk
        .migrating_slots
        .get(part)
        .ok_or_else(|| broken("part"))?;
    for m in entries {
        if hidden.contains(&key(m)) {
            if m.is_migrating {
                stable.extend(pairs(&m.range_list));
            }
            continue;
        }
        let src = cluster
            .chunks
            .get(m.meta.src_chunk_index)
            .ok_or_else(|| broken("migration source"))?;
        let dst = cluster
            .chunks
            .get(m.meta.dst_chunk_index)
            .ok_or_else(|| broken("migration destination"))?;
        let (src_proxy_address, src_node_address) = master_addresses(src, m.meta.src_chunk_part)?;
        let (dst_proxy_address, dst_node_address) = master_addresses(dst, m.meta.dst_chunk_part)?;
        let meta = MigrationMeta {
            epoch: m.meta.epoch,
            src_proxy_address,
            src_node_address,
            dst_proxy_address,
            dst_node_address,
        };
        let tag = if m.is_migrating {
            SlotRangeTag::Migrating(meta)
        } else {
            SlotRangeTag::Importing(meta)
        };
        moving.push(SlotRange {
            range_list: m.range_list.clone(),
            tag,
        });
    }
    let stable = RangeList::from_pairs(stable).map_err(|e| broken(&e.to_string()))?;
    let mut out = Vec::with_capacity(moving.len() + 1);
    if !stable.is_empty() {
        out.push(SlotRange::stable(stable));
    }
    out.extend(moving);
    Ok(out)
}

fn pairs(r: &RangeList) -> Vec<(u64, u64)> {
    r.ranges()
        .iter()
        .map(|&(a, b)| (u64::from(a), u64::from(b)))
        .collect()
}

/// The four nodes of one chunk, in node order.
fn chunk_nodes(
    cluster: &ClusterStore,
    chunk: &ChunkStore,
    hidden: &[MigKey],
) -> Result<Vec<Node>, StoreError> {
    let mut nodes = Vec::with_capacity(4);
    for (i, address) in chunk.node_addresses.iter().enumerate() {
        let part = part_of(i);
        let proxy_address = chunk
            .proxy_addresses
            .get(i / 2)
            .ok_or_else(|| broken("proxy"))?
            .clone();
        let is_master = master_index(chunk.role_position, part) == i;
        let peer_index = if is_master {
            replica_index(chunk.role_position, part)
        } else {
            master_index(chunk.role_position, part)
        };
        let peer = ReplPeer {
            node_address: chunk
                .node_addresses
                .get(peer_index)
                .ok_or_else(|| broken("peer"))?
                .clone(),
            proxy_address: chunk
                .proxy_addresses
                .get(peer_index / 2)
                .ok_or_else(|| broken("peer proxy"))?
                .clone(),
        };
        let slots = if is_master {
            part_slots(cluster, chunk, part, hidden)?
        } else {
            Vec::new()
        };
        nodes.push(Node {
            address: address.clone(),
            proxy_address,
            slots,
            repl: ReplMeta {
                role: if is_master {
                    Role::Master
                } else {
                    Role::Replica
                },
                peers: vec![peer],
            },
        });
    }
    Ok(nodes)
}

/// The cluster view (`GET /clusters/meta/<name>`), nodes chunk by chunk.
///
/// # Errors
/// `Internal` when stored chunk references are inconsistent.
pub fn cluster_view(cluster: &ClusterStore, limit: u64) -> Result<Cluster, StoreError> {
    let hidden = hidden_migrations(cluster, limit);
    let mut nodes = Vec::with_capacity(cluster.chunks.len() * 4);
    for chunk in &cluster.chunks {
        nodes.extend(chunk_nodes(cluster, chunk, &hidden)?);
    }
    Ok(Cluster {
        name: ClusterName::new(&cluster.name).map_err(|e| broken(&e.to_string()))?,
        epoch: cluster.epoch,
        nodes,
        config: cluster.config,
    })
}

/// The nodes of the chunks from index `from` on, as the cluster view shows them (the reply of
/// adding nodes).
///
/// # Errors
/// `Internal` when stored chunk references are inconsistent.
pub fn nodes_of_chunks(
    cluster: &ClusterStore,
    from: usize,
    limit: u64,
) -> Result<Vec<Node>, StoreError> {
    let hidden = hidden_migrations(cluster, limit);
    let mut out = Vec::new();
    for chunk in cluster.chunks.iter().skip(from) {
        out.extend(chunk_nodes(cluster, chunk, &hidden)?);
    }
    Ok(out)
}

/// The proxy view (`GET /proxies/meta/<addr>`), or `None` for an unknown proxy.
///
/// # Errors
/// `Internal` when stored references are inconsistent.
pub fn proxy_view(store: &MetaStore, addr: &str, limit: u64) -> Result<Option<Proxy>, StoreError> {
    let Some(res) = store.all_proxies.get(addr) else {
        return Ok(None);
    };
    let cluster = res.cluster.as_ref().and_then(|c| store.clusters.get(c));
    let Some(cluster) = cluster else {
        let nodes = res
            .node_addresses
            .iter()
            .map(|a| Node {
                address: a.clone(),
                proxy_address: addr.to_string(),
                slots: Vec::new(),
                repl: ReplMeta {
                    role: Role::Master,
                    peers: Vec::new(),
                },
            })
            .collect();
        return Ok(Some(Proxy {
            cluster_name: None,
            address: addr.to_string(),
            epoch: store.global_epoch,
            nodes,
            peers: Vec::new(),
            cluster_config: None,
        }));
    };
    let view = cluster_view(cluster, limit)?;
    let mut nodes = Vec::new();
    let mut peers: Vec<PeerProxy> = Vec::new();
    for node in view.nodes {
        if node.proxy_address == addr {
            nodes.push(node);
        } else if node.repl.role == Role::Master {
            match peers
                .iter_mut()
                .find(|p| p.proxy_address == node.proxy_address)
            {
                Some(p) => p.slots.extend(node.slots),
                None => peers.push(PeerProxy {
                    proxy_address: node.proxy_address,
                    slots: node.slots,
                }),
            }
        }
    }
    Ok(Some(Proxy {
        cluster_name: Some(view.name),
        address: addr.to_string(),
        epoch: view.epoch,
        nodes,
        peers,
        cluster_config: Some(view.config),
    }))
}

/// `GET /clusters/info/<name>` from the limited view.
///
/// # Errors
/// `Internal` when stored references are inconsistent.
pub fn cluster_info(cluster: &ClusterStore, limit: u64) -> Result<ClusterInfo, StoreError> {
    let view = cluster_view(cluster, limit)?;
    let masters_with_slots = view
        .nodes
        .iter()
        .filter(|n| n.repl.role == Role::Master && !n.slots.is_empty())
        .count();
    let is_migrating = view
        .nodes
        .iter()
        .flat_map(|n| &n.slots)
        .any(|s| s.tag != SlotRangeTag::None);
    Ok(ClusterInfo {
        name: cluster.name.clone(),
        node_number: view.nodes.len(),
        // why: a master with slots stands for its replica too, as in the original's count.
        node_number_with_slots: masters_with_slots * 2,
        is_migrating,
    })
}
