//! Key hashing and the per-core slot-to-owner table (pure; see `docs/slot-table.md`).

mod table;

pub use control::keyslot::{crc16, key_slot};
pub use table::{Owner, SlotTable};
