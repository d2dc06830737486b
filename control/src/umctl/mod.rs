//! The `UMCTL` control-command codecs shared by the proxy (decoder) and the coordinator
//! (encoder), so both sides of the wire are one piece of code: `SETCLUSTER v2` and `SETREPL`
//! (spec 2.11). The migration switch commands join with migration.

mod compress;
mod setcluster;
mod setrepl;

pub use setcluster::{SetCluster, SetClusterError, SETCLUSTER_VERSION};
pub use setrepl::{ReplEntry, SetRepl, SetReplError};
