//! What each command is to the proxy: answered here, forwarded by its keys, or refused (see
//! [`table`]), and where its keys are ([`keys`]).

pub mod keys;
pub mod table;

pub use keys::{xread_blocks, KeyError, KeyPlan, Keys};
pub use table::{lookup, Kind, ProxyCmd};
