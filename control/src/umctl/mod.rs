//! The `UMCTL` control-command codecs shared by the proxy (decoder) and the coordinator
//! (encoder), so both sides of the wire are one piece of code: `SETCLUSTER v2` and `SETREPL`
//! (spec 2.11), and the migration task line of `INFOMGR` and the switch commands.

mod compress;
mod migration;
mod setcluster;
mod setrepl;

pub use migration::{SwitchArgs, MIGRATION_PROTOCOL_VERSION};
pub use setcluster::{SetCluster, SetClusterError, SETCLUSTER_VERSION};
pub use setrepl::{ReplEntry, SetRepl, SetReplError};
