//! Replies to `CLUSTER NODES|SLOTS|INFO|MYID|KEYSLOT`, computed from a snapshot (pure).
//!
//! Only proxies appear (as masters; no replicas), the local one first. Tagged ranges are
//! listed by the rule of [`TaskStates::listed`] (spec 2.9), with the states of the tasks the
//! snapshot carries: a `migrating` range is shown at its source until the task leaves
//! PRE_CHECK, an `importing` one from then on.

mod node_id;

use crate::migration::TaskStates;
use crate::resp::compose;
use crate::snapshot::{host_of, ClusterSnapshot};
use control::model::{RangeList, SlotRange};
pub use node_id::{crc64, node_id};

/// How `CLUSTER NODES` prints addresses (`cluster_nodes_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodesVersion {
    /// `host:port`
    V1,
    /// `host:port@5299`
    #[default]
    V2,
}

/// Visible slots of a node's ranges, merged.
fn visible(ranges: &[SlotRange], states: &TaskStates) -> RangeList {
    let pairs = ranges
        .iter()
        .filter(|r| states.listed(r))
        .flat_map(|r| r.range_list.ranges())
        .map(|&(lo, hi)| (u64::from(lo), u64::from(hi)));
    RangeList::from_pairs(pairs).unwrap_or_default()
}

fn local_ranges(snap: &ClusterSnapshot, states: &TaskStates) -> RangeList {
    let all: Vec<SlotRange> = snap.local.iter().flat_map(|(_, r)| r.clone()).collect();
    visible(&all, states)
}

fn node_line(
    out: &mut String,
    id: &str,
    addr: &str,
    v: NodesVersion,
    flags: &str,
    epoch: u64,
    slots: &RangeList,
) {
    out.push_str(id);
    out.push(' ');
    out.push_str(addr);
    if v == NodesVersion::V2 {
        out.push_str("@5299");
    }
    out.push(' ');
    out.push_str(flags);
    out.push_str(" - 0 0 ");
    out.push_str(&epoch.to_string());
    out.push_str(" connected");
    for &(lo, hi) in slots.ranges() {
        out.push(' ');
        if lo == hi {
            out.push_str(&lo.to_string());
        } else {
            out.push_str(&format!("{lo}-{hi}"));
        }
    }
    out.push('\n');
}

/// `CLUSTER NODES` text (the caller wraps it in a bulk string).
pub fn nodes(snap: &ClusterSnapshot, announce: &str, v: NodesVersion) -> String {
    let name = snap.name.as_str();
    let states = crate::migration::registry::snapshot_states(snap);
    let mut out = String::new();
    node_line(
        &mut out,
        &node_id(name, announce),
        announce,
        v,
        "myself,master",
        snap.epoch,
        &local_ranges(snap, &states),
    );
    for (addr, ranges) in &snap.peer {
        node_line(
            &mut out,
            &node_id(name, addr),
            addr,
            v,
            "master",
            snap.epoch,
            &visible(ranges, &states),
        );
    }
    out
}

/// `CLUSTER SLOTS` reply bytes.
pub fn slots(snap: &ClusterSnapshot, announce: &str) -> Vec<u8> {
    let name = snap.name.as_str();
    let mut entries: Vec<(&str, RangeList)> = Vec::new();
    if snap.has_cluster() {
        let states = crate::migration::registry::snapshot_states(snap);
        entries.push((announce, local_ranges(snap, &states)));
        entries.extend(
            snap.peer
                .iter()
                .map(|(a, r)| (a.as_str(), visible(r, &states))),
        );
    }
    let mut body = Vec::new();
    let mut count = 0;
    for (addr, list) in &entries {
        let Some((host, port)) = addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        else {
            let mut e = Vec::new();
            compose::error(&mut e, format!("invalid address {addr}").as_bytes());
            return e;
        };
        let id = node_id(name, addr);
        for &(lo, hi) in list.ranges() {
            count += 1;
            compose::array_header(&mut body, 3);
            compose::integer(&mut body, i64::from(lo));
            compose::integer(&mut body, i64::from(hi));
            compose::array_header(&mut body, 3);
            compose::bulk(&mut body, host.as_bytes());
            compose::integer(&mut body, i64::from(port));
            compose::bulk(&mut body, id.as_bytes());
        }
    }
    let mut out = Vec::with_capacity(body.len() + 16);
    compose::array_header(&mut out, count);
    out.extend_from_slice(&body);
    out
}

/// `CLUSTER INFO` text, in Redis' field names so client libraries can read it.
pub fn info(snap: &ClusterSnapshot) -> String {
    let assigned = if snap.has_cluster() {
        snap.table.covered()
    } else {
        0
    };
    let state = if assigned == control::model::SLOT_COUNT {
        "ok"
    } else {
        "fail"
    };
    let known = if snap.has_cluster() {
        1 + snap.peer.len()
    } else {
        1
    };
    format!(
        "cluster_enabled:1\r\ncluster_state:{state}\r\ncluster_slots_assigned:{assigned}\r\n\
         cluster_slots_ok:{assigned}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\n\
         cluster_known_nodes:{known}\r\ncluster_size:{known}\r\ncluster_current_epoch:{e}\r\n\
         cluster_my_epoch:{e}\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n",
        e = snap.epoch
    )
}

/// True when every local address is on the announced host (SETCLUSTER's `ERR_NOT_MY_META`
/// check).
pub fn is_my_meta(local: &[(String, Vec<SlotRange>)], announce: &str) -> bool {
    let me = host_of(announce);
    local.iter().all(|(a, _)| host_of(a) == me)
}

#[cfg(test)]
mod tests {
    use super::*;
    use control::umctl::SetCluster;

    fn snap(s: &str) -> ClusterSnapshot {
        let args: Vec<&[u8]> = s.split(' ').map(str::as_bytes).collect();
        ClusterSnapshot::build(SetCluster::decode(&args).unwrap(), 1).unwrap()
    }

    #[test]
    fn nodes_matches_the_docs_example() {
        let s = snap("v2 1 NOFLAGS mydb 127.0.0.1:6379 1 0-8000 PEER 127.0.0.1:7000 1 8001-16383");
        assert_eq!(
            nodes(&s, "127.0.0.1:5299", NodesVersion::V2),
            "mydb____________________9f8fca2805923328 127.0.0.1:5299@5299 myself,master - 0 0 1 connected 0-8000\n\
             mydb____________________d458dd9b55cc9ad9 127.0.0.1:7000@5299 master - 0 0 1 connected 8001-16383\n"
        );
        let v1 = nodes(&s, "127.0.0.1:5299", NodesVersion::V1);
        assert!(v1.starts_with("mydb____________________9f8fca2805923328 127.0.0.1:5299 myself"));
    }

    #[test]
    fn unconfigured_and_single_slots() {
        let n = nodes(
            &ClusterSnapshot::default(),
            "127.0.0.1:5299",
            NodesVersion::V2,
        );
        assert!(n.starts_with("________________________"));
        assert!(n.ends_with(" 127.0.0.1:5299@5299 myself,master - 0 0 0 connected\n"));
        let s = snap("v2 2 NOFLAG db 127.0.0.1:1 2 5-5 7-9 127.0.0.1:2 importing 1 100-200 1 a:1 b:1 c:1 d:1");
        assert!(nodes(&s, "127.0.0.1:9", NodesVersion::V2).ends_with("connected 5 7-9\n"));
    }

    #[test]
    fn slots_reply() {
        let s = snap("v2 1 NOFLAG db 127.0.0.1:1 1 0-1 PEER 127.0.0.1:7000 1 2-16383");
        let r = slots(&s, "127.0.0.1:5299");
        let id = node_id("db", "127.0.0.1:5299");
        let expect =
            format!("*2\r\n*3\r\n:0\r\n:1\r\n*3\r\n$9\r\n127.0.0.1\r\n:5299\r\n$40\r\n{id}\r\n");
        assert!(String::from_utf8(r).unwrap().starts_with(&expect));
        assert_eq!(
            slots(&ClusterSnapshot::default(), "127.0.0.1:5299"),
            b"*0\r\n"
        );
        assert!(info(&s).contains("cluster_state:ok"));
        assert!(info(&ClusterSnapshot::default()).contains("cluster_state:fail"));
    }

    #[test]
    fn my_meta() {
        let local = vec![("127.0.0.1:6379".to_string(), vec![])];
        assert!(is_my_meta(&local, "127.0.0.1:5299"));
        assert!(!is_my_meta(&local, "localhost:5299"));
    }
}
