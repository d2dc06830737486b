//! Key hashing and the per-core slot-to-owner table (pure; see `docs/slot-table.md`).

mod hash;
mod table;

pub use hash::{crc16, key_slot};
pub use table::{Owner, SlotTable};
