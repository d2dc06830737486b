//! Scaling plans (spec 4.7): adding chunks, expanding slots onto them, shrinking onto the
//! first chunks, deleting slotless chunks, and committing finished migrations.

use super::cluster::{allocate_chunks, check_node_number};
use super::model::{ClusterStore, MetaStore, MigrationMetaStore, MigrationSlotRangeStore};
use super::{cluster_mut, slots, view, OpError, Settings, StoreError};
use control::model::{MigrationTask, Node, SlotRange};

/// Bumps the global epoch and stamps it on the cluster.
fn touch(store: &mut MetaStore, name: &str) -> u64 {
    let epoch = store.bump_global_epoch();
    if let Some(c) = store.clusters.get_mut(name) {
        c.epoch = epoch;
    }
    epoch
}

/// Adds `node_number` nodes as slotless chunks; returns the added nodes.
///
/// # Errors
/// `INVALID_CLUSTER_NAME`, `CLUSTER_NOT_FOUND`, `MIGRATION_RUNNING`, `INVALID_NODE_NUMBER`,
/// allocation errors.
pub fn add_nodes(
    store: &mut MetaStore,
    name: &str,
    node_number: u64,
    now: i64,
    settings: &Settings,
) -> Result<Vec<Node>, OpError> {
    let cluster = cluster_mut(store, name)?;
    if cluster.is_migrating() {
        return Err(StoreError::MigrationRunning.into());
    }
    let n = check_node_number(node_number)?;
    let existing_chunks = cluster.chunks.len();
    let chunks = allocate_chunks(store, name, n, existing_chunks * 2, now, settings)?;
    let cluster = cluster_mut(store, name)?;
    cluster.chunks.extend(chunks);
    touch(store, name);
    let cluster = cluster_mut(store, name)?;
    Ok(view::nodes_of_chunks(
        cluster,
        existing_chunks,
        settings.migration_limit,
    )?)
}

/// Adds nodes until the cluster has `target` (`PUT /clusters/nodes`).
///
/// # Errors
/// `NODE_NUM_ALREADY_ENOUGH` and the errors of [`add_nodes`].
pub fn set_node_number(
    store: &mut MetaStore,
    name: &str,
    target: u64,
    now: i64,
    settings: &Settings,
) -> Result<Vec<Node>, OpError> {
    let cluster = cluster_mut(store, name)?;
    let current = (cluster.chunks.len() as u64) * 4;
    if target <= current {
        return Err(StoreError::NodeNumAlreadyEnough.into());
    }
    add_nodes(store, name, target - current, now, settings)
}

/// Removes chunks that own and move no slot; their proxies become free.
///
/// # Errors
/// `CLUSTER_NOT_FOUND`, `MIGRATION_RUNNING`, `FREE_NODE_NOT_FOUND`.
pub fn delete_free_nodes(store: &mut MetaStore, name: &str) -> Result<(), OpError> {
    let cluster = cluster_mut(store, name)?;
    if cluster.is_migrating() {
        return Err(StoreError::MigrationRunning.into());
    }
    let (free, kept): (Vec<_>, Vec<_>) = cluster.chunks.drain(..).partition(|c| c.is_slotless());
    cluster.chunks = kept;
    if free.is_empty() {
        return Err(StoreError::FreeNodeNotFound.into());
    }
    for addr in free.iter().flat_map(|c| &c.proxy_addresses) {
        if let Some(p) = store.all_proxies.get_mut(addr) {
            p.cluster = None;
        }
    }
    touch(store, name);
    Ok(())
}

/// Masters in chunk order: (chunk index, part, stable slots).
fn masters(cluster: &ClusterStore) -> Vec<(usize, usize, Vec<u16>)> {
    let mut out = Vec::with_capacity(cluster.chunks.len() * 2);
    for (ci, chunk) in cluster.chunks.iter().enumerate() {
        for (part, stable) in chunk.stable_slots.iter().enumerate() {
            let s = stable
                .as_ref()
                .map(|r| slots::expand(&r.range_list))
                .unwrap_or_default();
            out.push((ci, part, s));
        }
    }
    out
}

/// A planned move of `slots` from one master to another.
struct Move {
    src: (usize, usize),
    dst: (usize, usize),
    slots: Vec<u16>,
}

/// Hands `given` (ascending) from `src` to the destinations in order, filling each deficit.
/// Returns what no destination needed (empty unless the cluster lacked slots).
fn distribute<'a>(
    src: (usize, usize),
    given: &'a [u16],
    dests: &mut [((usize, usize), usize)],
    moves: &mut Vec<Move>,
) -> &'a [u16] {
    let mut rest = given;
    for (dst, deficit) in dests.iter_mut() {
        if rest.is_empty() {
            break;
        }
        if *deficit == 0 {
            continue;
        }
        let n = (*deficit).min(rest.len());
        let (piece, tail) = rest.split_at(n);
        moves.push(Move {
            src,
            dst: *dst,
            slots: piece.to_vec(),
        });
        *deficit -= n;
        rest = tail;
    }
    rest
}

/// Writes the planned moves into the chunks: source stable slots set to `kept`, both sides
/// recorded with `epoch`.
fn record(
    cluster: &mut ClusterStore,
    kept: Vec<((usize, usize), Vec<u16>)>,
    moves: Vec<Move>,
    epoch: u64,
) -> Result<(), StoreError> {
    let broken = || StoreError::Internal("scaling plan points outside the cluster".into());
    for ((ci, part), s) in kept {
        let chunk = cluster.chunks.get_mut(ci).ok_or_else(broken)?;
        let slot = chunk.stable_slots.get_mut(part).ok_or_else(broken)?;
        *slot = if s.is_empty() {
            None
        } else {
            Some(SlotRange::stable(slots::collapse(&s)))
        };
    }
    for m in moves {
        let meta = MigrationMetaStore {
            epoch,
            src_chunk_index: m.src.0,
            src_chunk_part: m.src.1,
            dst_chunk_index: m.dst.0,
            dst_chunk_part: m.dst.1,
        };
        let range_list = slots::collapse(&m.slots);
        for (is_migrating, (ci, part)) in [(true, m.src), (false, m.dst)] {
            cluster
                .chunks
                .get_mut(ci)
                .and_then(|c| c.migrating_slots.get_mut(part))
                .ok_or_else(broken)?
                .push(MigrationSlotRangeStore {
                    range_list: range_list.clone(),
                    is_migrating,
                    meta,
                });
        }
    }
    Ok(())
}

/// Starts moving slots onto the slotless chunks: every master ends with an even share, the
/// surplus taken from the end of each over-full master's ranges.
///
/// # Errors
/// `CLUSTER_NOT_FOUND`, `MIGRATION_RUNNING`, `SLOTS_ALREADY_EVEN`.
pub fn expand(store: &mut MetaStore, name: &str) -> Result<(), OpError> {
    let cluster = cluster_mut(store, name)?;
    if cluster.is_migrating() {
        return Err(StoreError::MigrationRunning.into());
    }
    if !cluster.chunks.iter().any(|c| c.is_slotless()) {
        return Err(StoreError::SlotsAlreadyEven.into());
    }
    let all = masters(cluster);
    let total = all.len();
    let mut dests: Vec<((usize, usize), usize)> = all
        .iter()
        .enumerate()
        .map(|(k, (ci, p, s))| {
            (
                (*ci, *p),
                slots::even_share(total, k).saturating_sub(s.len()),
            )
        })
        .collect();
    let mut moves = Vec::new();
    let mut kept = Vec::new();
    for (k, (ci, p, s)) in all.iter().enumerate() {
        let share = slots::even_share(total, k);
        if s.len() > share {
            let (keep, give) = s.split_at(share);
            let rest = distribute((*ci, *p), give, &mut dests, &mut moves);
            let mut keep = keep.to_vec();
            keep.extend_from_slice(rest);
            kept.push(((*ci, *p), keep));
        }
    }
    let epoch = store.global_epoch.saturating_add(1);
    let cluster = cluster_mut(store, name)?;
    record(cluster, kept, moves, epoch)?;
    touch(store, name);
    Ok(())
}

/// Starts moving every slot into the first `node_number / 4` chunks (taken from the start of
/// the leaving masters' ranges). Leaving chunks stay until `DELETE /clusters/free_nodes`.
///
/// # Errors
/// `CLUSTER_NOT_FOUND`, `MIGRATION_RUNNING`, `INVALID_NODE_NUMBER`, `FREE_NODE_FOUND`.
pub fn shrink(store: &mut MetaStore, name: &str, node_number: u64) -> Result<(), OpError> {
    let cluster = cluster_mut(store, name)?;
    if cluster.is_migrating() {
        return Err(StoreError::MigrationRunning.into());
    }
    let current = (cluster.chunks.len() as u64) * 4;
    if node_number == 0 || !node_number.is_multiple_of(4) || node_number >= current {
        return Err(StoreError::InvalidNodeNumber.into());
    }
    if cluster.chunks.iter().any(|c| c.is_slotless()) {
        return Err(StoreError::FreeNodeFound.into());
    }
    let keep_chunks =
        usize::try_from(node_number / 4).map_err(|_| StoreError::InvalidNodeNumber)?;
    let all = masters(cluster);
    let staying = keep_chunks * 2;
    let mut dests: Vec<((usize, usize), usize)> = all
        .iter()
        .take(staying)
        .enumerate()
        .map(|(k, (ci, p, s))| {
            (
                (*ci, *p),
                slots::even_share(staying, k).saturating_sub(s.len()),
            )
        })
        .collect();
    let mut moves = Vec::new();
    let mut kept = Vec::new();
    for (ci, p, s) in all.iter().skip(staying) {
        let rest = distribute((*ci, *p), s, &mut dests, &mut moves);
        kept.push(((*ci, *p), rest.to_vec()));
    }
    let epoch = store.global_epoch.saturating_add(1);
    let cluster = cluster_mut(store, name)?;
    record(cluster, kept, moves, epoch)?;
    touch(store, name);
    Ok(())
}

/// Commits a finished migration: both sides removed, the range merged into the destination's
/// stable slots. The second report of the same task gets `MIGRATION_TASK_NOT_FOUND`.
///
/// # Errors
/// `CLUSTER_NOT_FOUND`, `INVALID_MIGRATION_TASK`, `MIGRATION_TASK_NOT_FOUND`.
pub fn commit_migration(store: &mut MetaStore, task: &MigrationTask) -> Result<(), OpError> {
    let name = task.cluster_name.as_str().to_string();
    let cluster = cluster_mut(store, &name)?;
    let epoch = task
        .slot_range
        .tag
        .meta()
        .ok_or(StoreError::InvalidMigrationTask)?
        .epoch;
    let range = &task.slot_range.range_list;
    let matches = |m: &MigrationSlotRangeStore| m.range_list == *range && m.meta.epoch == epoch;
    let meta = cluster
        .chunks
        .iter()
        .flat_map(|c| c.migrating_slots.iter().flatten())
        .find(|m| m.is_migrating && matches(m))
        .map(|m| m.meta)
        .ok_or(StoreError::MigrationTaskNotFound)?;
    let same = |m: &MigrationSlotRangeStore| matches(m) && m.meta == meta;
    let src = cluster
        .chunks
        .get_mut(meta.src_chunk_index)
        .and_then(|c| c.migrating_slots.get_mut(meta.src_chunk_part))
        .ok_or(StoreError::MigrationTaskNotFound)?;
    src.retain(|m| !(m.is_migrating && same(m)));
    let dst_chunk = cluster
        .chunks
        .get_mut(meta.dst_chunk_index)
        .ok_or(StoreError::MigrationTaskNotFound)?;
    let dst = dst_chunk
        .migrating_slots
        .get_mut(meta.dst_chunk_part)
        .ok_or(StoreError::MigrationTaskNotFound)?;
    let before = dst.len();
    dst.retain(|m| m.is_migrating || !same(m));
    if dst.len() == before {
        return Err(StoreError::MigrationTaskNotFound.into());
    }
    let stable = dst_chunk
        .stable_slots
        .get_mut(meta.dst_chunk_part)
        .ok_or(StoreError::MigrationTaskNotFound)?;
    let mut all = stable
        .as_ref()
        .map(|s| slots::expand(&s.range_list))
        .unwrap_or_default();
    all.extend(slots::expand(range));
    all.sort_unstable();
    all.dedup();
    *stable = Some(SlotRange::stable(slots::collapse(&all)));
    touch(store, &name);
    Ok(())
}
