//! The `UMCTL` control-command codecs shared by the proxy (decoder) and the coordinator
//! (encoder), so both sides of the wire are one piece of code.
//!
//! Only `SETCLUSTER v2` lives here for now (spec 2.11); `SETREPL` and the migration switch
//! commands join later.

mod compress;
mod setcluster;

pub use setcluster::{SetCluster, SetClusterError, SETCLUSTER_VERSION};
