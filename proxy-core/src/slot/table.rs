//! `SlotTable`: 16384 compact entries (32 KiB, stays in cache) mapping a slot to a local
//! backend index, a peer index, or nothing. Built once per SETCLUSTER from validated ranges,
//! so it cannot hold an out-of-range slot.

use control::model::SLOT_COUNT;

const UNBOUND: u16 = u16::MAX;
// why: one tag bit splits local and peer indices; 32767 of each is far beyond real clusters.
const PEER_BIT: u16 = 0x8000;

/// Who serves a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Local backend `i` of the snapshot.
    Local(u16),
    /// Peer proxy `i` of the snapshot.
    Peer(u16),
    /// Nobody in the metadata.
    Unbound,
}

/// Slot to owner map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotTable {
    slots: Box<[u16]>,
}

impl Default for SlotTable {
    fn default() -> Self {
        Self {
            slots: vec![UNBOUND; SLOT_COUNT].into_boxed_slice(),
        }
    }
}

impl SlotTable {
    /// Owner of `slot` (slots >= 16384 are unbound).
    #[inline]
    pub fn owner(&self, slot: u16) -> Owner {
        match self
            .slots
            .get(usize::from(slot))
            .copied()
            .unwrap_or(UNBOUND)
        {
            UNBOUND => Owner::Unbound,
            v if v & PEER_BIT != 0 => Owner::Peer(v & !PEER_BIT),
            v => Owner::Local(v),
        }
    }

    /// Assigns the inclusive range `lo..=hi`. Indices above 32766 are ignored (cannot occur
    /// with real metadata; the snapshot builder caps the address count).
    pub fn assign(&mut self, lo: u16, hi: u16, owner: Owner) {
        let v = match owner {
            Owner::Local(i) if i < PEER_BIT - 1 => i,
            Owner::Peer(i) if i < PEER_BIT - 1 => i | PEER_BIT,
            Owner::Unbound => UNBOUND,
            _ => return,
        };
        if let Some(s) = self.slots.get_mut(usize::from(lo)..=usize::from(hi)) {
            s.fill(v);
        }
    }

    /// Number of slots with an owner.
    pub fn covered(&self) -> usize {
        self.slots.iter().filter(|&&v| v != UNBOUND).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assign_and_lookup() {
        let mut t = SlotTable::default();
        assert_eq!(t.owner(0), Owner::Unbound);
        t.assign(0, 8191, Owner::Local(0));
        t.assign(8192, 16383, Owner::Peer(1));
        assert_eq!(t.owner(0), Owner::Local(0));
        assert_eq!(t.owner(8191), Owner::Local(0));
        assert_eq!(t.owner(8192), Owner::Peer(1));
        assert_eq!(t.owner(16383), Owner::Peer(1));
        assert_eq!(t.owner(16384), Owner::Unbound);
        assert_eq!(t.covered(), 16384);
        t.assign(5, 5, Owner::Unbound);
        assert_eq!(t.covered(), 16383);
    }
}
