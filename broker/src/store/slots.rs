//! Slot arithmetic for allocation and scaling: even shares and moving slots between masters.
//!
//! Works on plain slot lists (at most 16384 entries) because clarity beats cleverness at this
//! size, and range lists are rebuilt (and so normalised) from them.

use control::model::{RangeList, SLOT_COUNT};

/// The slots of a range list, ascending.
pub fn expand(list: &RangeList) -> Vec<u16> {
    list.ranges().iter().flat_map(|&(lo, hi)| lo..=hi).collect()
}

/// A range list holding exactly `slots`.
pub fn collapse(slots: &[u16]) -> RangeList {
    RangeList::from_pairs(slots.iter().map(|&s| (u64::from(s), u64::from(s)))).unwrap_or_default()
}

/// Share of master `k` out of `masters`: 16384 / masters, the first 16384 % masters one more.
pub fn even_share(masters: usize, k: usize) -> usize {
    if masters == 0 {
        return 0;
    }
    SLOT_COUNT / masters + usize::from(k < SLOT_COUNT % masters)
}

/// Contiguous ranges for `masters` masters covering every slot (a new cluster).
pub fn initial_ranges(masters: usize) -> Vec<RangeList> {
    let mut start = 0usize;
    (0..masters)
        .map(|k| {
            let n = even_share(masters, k);
            if n == 0 {
                return RangeList::empty();
            }
            let list = RangeList::from_pairs([(start as u64, (start + n - 1) as u64)]);
            start += n;
            list.unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_initial_ranges() {
        assert_eq!(even_share(2, 0), 8192);
        assert_eq!(even_share(3, 0), 5462);
        assert_eq!(even_share(3, 2), 5461);
        let r = initial_ranges(2);
        assert_eq!(r[0].to_text(), "1 0-8191");
        assert_eq!(r[1].to_text(), "1 8192-16383");
        let r = initial_ranges(6);
        assert_eq!(r.iter().map(RangeList::slot_count).sum::<usize>(), 16384);
        assert_eq!(collapse(&expand(&r[5])), r[5]);
    }
}
