//! Raising epochs by hand (spec 4.9): after a broker is restored from older data, proxies
//! accept its metadata only once its epochs exceed theirs.

use super::model::MetaStore;
use super::{OpError, StoreError};

/// Sets the global epoch and every cluster epoch to `n`.
///
/// # Errors
/// `EPOCH_SMALLER_THAN_CURRENT` when `n` is not greater than the global epoch.
pub fn set_epoch(store: &mut MetaStore, n: u64) -> Result<(), OpError> {
    if n <= store.global_epoch {
        return Err(StoreError::EpochSmallerThanCurrent.into());
    }
    store.global_epoch = n;
    for c in store.clusters.values_mut() {
        c.epoch = n;
    }
    Ok(())
}

/// Raises every epoch strictly above both the global epoch and `largest_seen` (the largest
/// epoch any proxy reported). Returns the new epoch.
pub fn recover_epoch(store: &mut MetaStore, largest_seen: u64) -> u64 {
    // why: +2 as the original does, so even a proxy that applied one more change than it
    // reported stays behind the new epoch.
    let n = store.global_epoch.max(largest_seen).saturating_add(2);
    store.global_epoch = n;
    for c in store.clusters.values_mut() {
        c.epoch = n;
    }
    n
}
