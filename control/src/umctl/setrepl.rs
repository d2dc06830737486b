//! `UMCTL SETREPL`: the replication roles of a proxy's Redis nodes (spec 2.11). Decoded by the
//! proxy, which then drives `REPLICAOF` on its backends; encoded by the coordinator from the
//! broker's proxy view.
//!
//! ```text
//! UMCTL SETREPL <epoch> <flags>
//!       [ (master|replica) <cluster_name> <node_addr> <peer_count>
//!         [<peer_node_addr> <peer_proxy_addr>]... ]...
//! ```
//!
//! For a master the peers are its replicas; for a replica they are its masters (only the first
//! one is followed). The cluster name may be empty (free nodes). The epoch is tracked apart from
//! SETCLUSTER's; epoch ordering and the host check need the proxy's state, so they stay there.

use crate::model::{ClusterName, Node, ReplPeer, Role};

/// SETREPL arguments were malformed. The proxy replies `-Invalid arguments`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Invalid arguments")]
pub struct SetReplError;

/// The replication role of one local Redis node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplEntry {
    /// Master or replica.
    pub role: Role,
    /// Cluster of the node (empty for a free node).
    pub cluster_name: ClusterName,
    /// The local Redis node, `host:port`.
    pub node_address: String,
    /// Replicas of a master, or the master(s) of a replica.
    pub peers: Vec<ReplPeer>,
}

impl ReplEntry {
    /// The master this node must follow: the first peer of a replica, none for a master.
    pub fn master(&self) -> Option<&ReplPeer> {
        match self.role {
            Role::Master => None,
            Role::Replica => self.peers.first(),
        }
    }
}

/// One decoded SETREPL: the whole replication state of a proxy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetRepl {
    /// Replication epoch; strictly greater than the proxy's unless `force`.
    pub epoch: u64,
    /// `FORCE` flag.
    pub force: bool,
    /// One entry per local node.
    pub entries: Vec<ReplEntry>,
}

impl SetRepl {
    /// Builds the SETREPL of a proxy from the broker's view of its nodes.
    pub fn from_nodes(epoch: u64, cluster_name: &ClusterName, nodes: &[Node]) -> Self {
        let entries = nodes
            .iter()
            .map(|n| ReplEntry {
                role: n.repl.role,
                cluster_name: cluster_name.clone(),
                node_address: n.address.clone(),
                peers: n.repl.peers.clone(),
            })
            .collect();
        Self {
            epoch,
            force: false,
            entries,
        }
    }

    /// Decodes the arguments that follow `UMCTL SETREPL`.
    ///
    /// # Errors
    /// [`SetReplError`] for anything malformed (bad epoch, role, cluster name, peer count, or a
    /// missing argument).
    pub fn decode(args: &[&[u8]]) -> Result<Self, SetReplError> {
        let mut it = args.iter();
        let mut word = || -> Result<&str, SetReplError> {
            let a = it.next().ok_or(SetReplError)?;
            std::str::from_utf8(a).map_err(|_| SetReplError)
        };
        let epoch: u64 = word()?.parse().map_err(|_| SetReplError)?;
        let force = word()?
            .split(',')
            .any(|f| f.trim().eq_ignore_ascii_case("force"));
        let mut entries = Vec::new();
        while let Ok(role) = word() {
            let role = Role::parse(role).ok_or(SetReplError)?;
            let cluster_name = ClusterName::new(word()?).map_err(|_| SetReplError)?;
            let node_address = word()?.to_string();
            let count: usize = word()?.parse().map_err(|_| SetReplError)?;
            // why: `count` is client-chosen; the vector grows only with peers actually sent.
            let mut peers = Vec::new();
            for _ in 0..count {
                let node_address = word()?.to_string();
                let proxy_address = word()?.to_string();
                peers.push(ReplPeer {
                    node_address,
                    proxy_address,
                });
            }
            entries.push(ReplEntry {
                role,
                cluster_name,
                node_address,
                peers,
            });
        }
        Ok(Self {
            epoch,
            force,
            entries,
        })
    }

    /// Encodes as the full argument list, starting with `UMCTL SETREPL`.
    pub fn encode(&self) -> Vec<String> {
        let mut out = vec![
            "UMCTL".to_string(),
            "SETREPL".to_string(),
            self.epoch.to_string(),
            if self.force { "FORCE" } else { "NOFLAG" }.to_string(),
        ];
        for e in &self.entries {
            out.push(e.role.as_str().to_string());
            out.push(e.cluster_name.to_string());
            out.push(e.node_address.clone());
            out.push(e.peers.len().to_string());
            for p in &e.peers {
                out.push(p.node_address.clone());
                out.push(p.proxy_address.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(s: &str) -> Result<SetRepl, SetReplError> {
        let args: Vec<&[u8]> = s.split(' ').map(str::as_bytes).collect();
        SetRepl::decode(&args)
    }

    #[test]
    fn decodes_masters_and_replicas() {
        let r = dec(
            "7 NOFLAG master mydb 127.0.0.1:7001 1 127.0.0.1:7004 127.0.0.1:6002 \
                     replica mydb 127.0.0.1:7002 1 127.0.0.1:7003 127.0.0.1:6002",
        )
        .unwrap();
        assert_eq!(r.epoch, 7);
        assert!(!r.force);
        assert_eq!(r.entries.len(), 2);
        assert_eq!(r.entries[0].role, Role::Master);
        assert_eq!(r.entries[0].master(), None);
        assert_eq!(
            r.entries[1].master().unwrap().node_address,
            "127.0.0.1:7003"
        );
        assert!(dec("3 FORCE").unwrap().force);
        assert!(dec("3 NOFLAG").unwrap().entries.is_empty());
    }

    #[test]
    fn empty_cluster_name_is_a_free_node() {
        let args: Vec<&[u8]> = vec![b"2", b"NOFLAG", b"master", b"", b"127.0.0.1:7001", b"0"];
        let r = SetRepl::decode(&args).unwrap();
        assert!(r.entries[0].cluster_name.is_empty());
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "x NOFLAG",
            "1",
            "1 NOFLAG leader mydb 127.0.0.1:7001 0",
            "1 NOFLAG master mydb 127.0.0.1:7001",
            "1 NOFLAG master mydb 127.0.0.1:7001 2 a b",
            "1 NOFLAG master my%db 127.0.0.1:7001 0",
            "1 NOFLAG master mydb 127.0.0.1:7001 99999999999999999999",
        ] {
            assert_eq!(dec(bad), Err(SetReplError), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn encode_then_decode_gives_it_back(
            epoch in any::<u64>(),
            force in any::<bool>(),
            entries in proptest::collection::vec(
                (any::<bool>(), "[a-z]{0,5}", "[0-9.:]{1,12}",
                 proptest::collection::vec(("[0-9.:]{1,12}", "[0-9.:]{1,12}"), 0..3)),
                0..4),
        ) {
            let s = SetRepl {
                epoch,
                force,
                entries: entries.into_iter().map(|(m, c, n, p)| ReplEntry {
                    role: if m { Role::Master } else { Role::Replica },
                    cluster_name: ClusterName::new(&c).unwrap(),
                    node_address: n,
                    peers: p.into_iter().map(|(a, b)| ReplPeer {
                        node_address: a, proxy_address: b }).collect(),
                }).collect(),
            };
            let args = s.encode();
            let bytes: Vec<&[u8]> = args.iter().skip(2).map(|a| a.as_bytes()).collect();
            prop_assert_eq!(SetRepl::decode(&bytes).unwrap(), s);
        }

        #[test]
        fn decode_never_panics(words in proptest::collection::vec("[a-z0-9:.]{0,6}", 0..12)) {
            let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
            let _ = SetRepl::decode(&args);
        }
    }
}
