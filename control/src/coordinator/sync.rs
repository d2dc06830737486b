//! Metadata sync (spec 5.3 loop 3): bring every proxy to the broker's epoch. A proxy is pushed
//! only when its `UMCTL GETEPOCH` is behind the epoch the broker has for it, so a steady cluster
//! costs one cheap call per proxy per round. A push is `UMCTL SETREPL` then `UMCTL SETCLUSTER`
//! with the same epoch; a SETCLUSTER is sent only once the SETREPL is in, so an up-to-date
//! SETCLUSTER epoch also means up-to-date replication roles.
//!
//! Order: per cluster, proxies with importing or slotless nodes first (a destination must
//! know it imports before its source starts sending), then the rest, then free proxies (their
//! epoch is the global epoch; they get the empty cluster and their nodes as free masters).
//! A failed proxy no longer in a cluster (replaced) is synced like a free one: if it came back
//! it is fenced, i.e. stops serving whatever cluster metadata it still holds. why: a proxy
//! restarted just before its failover can receive its old cluster's SETCLUSTER from a round
//! that read the broker before the failover; nobody else would ever correct it, and it would
//! go on acknowledging writes on masters that were replaced (found by the chaos test).
//! A failed proxy still listed in a cluster (no replacement was free) gets nothing.

use super::Ctx;
use crate::client::resp::Value;
use crate::model::{Node, Proxy, Role, SlotRangeTag};
use crate::umctl::{SetCluster, SetRepl};
use std::collections::HashSet;

/// One round.
pub fn round(ctx: &Ctx) {
    let plan = match plan(ctx) {
        Ok(p) => p,
        Err(e) => {
            super::stats::round_failed("sync");
            return log::warn!("sync: {e}");
        }
    };
    for phase in plan {
        let c = ctx.clone();
        ctx.workers
            .map(phase, move |(addr, epoch)| sync_proxy(&c, &addr, epoch));
    }
}

type Phase = Vec<(String, u64)>;

fn plan(ctx: &Ctx) -> Result<[Phase; 3], super::broker::BrokerError> {
    let b = &ctx.brokers;
    let failed: HashSet<String> = b.failed_addresses()?.into_iter().collect();
    let mut first = Vec::new();
    let mut second = Vec::new();
    let mut in_cluster = HashSet::new();
    for name in b.cluster_names()? {
        let Some(cluster) = b.cluster(&name)? else {
            continue;
        };
        let mut proxies: Vec<(&str, bool)> = Vec::new();
        for n in &cluster.nodes {
            let early = importing_or_empty(n);
            match proxies.iter_mut().find(|(a, _)| *a == n.proxy_address) {
                Some((_, e)) => *e |= early,
                None => proxies.push((&n.proxy_address, early)),
            }
        }
        for (addr, early) in proxies {
            in_cluster.insert(addr.to_string());
            // why: a failed proxy still listed (no replacement was free) is down or fenced.
            if failed.contains(addr) {
                continue;
            }
            let item = (addr.to_string(), cluster.epoch);
            if early {
                first.push(item);
            } else {
                second.push(item);
            }
        }
    }
    let global = b.global_epoch()?;
    let free = b
        .proxy_addresses()?
        .into_iter()
        .filter(|a| !in_cluster.contains(a))
        .map(|a| (a, global))
        .collect();
    Ok([first, second, free])
}

fn importing_or_empty(n: &Node) -> bool {
    n.repl.role == Role::Master
        && (n.slots.is_empty()
            || n.slots
                .iter()
                .any(|s| matches!(s.tag, SlotRangeTag::Importing(_))))
}

/// Pushes to `addr` if its epoch is behind `want`.
fn sync_proxy(ctx: &Ctx, addr: &str, want: u64) {
    match ctx.proxies.call(addr, &["UMCTL", "GETEPOCH"]) {
        Ok(Value::Int(have)) if u64::try_from(have).is_ok_and(|h| h >= want) => {}
        Ok(Value::Int(_)) => push(ctx, addr),
        Ok(other) => log::warn!("sync: {addr}: unexpected GETEPOCH reply {other:?}"),
        // why: detection reports it; nothing to push to meanwhile.
        Err(e) => log::debug!("sync: {addr}: {e}"),
    }
}

/// Sends `addr` its current metadata from the broker: SETREPL, then SETCLUSTER.
pub fn push(ctx: &Ctx, addr: &str) {
    let proxy = match ctx.brokers.proxy(addr) {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(e) => return log::warn!("sync: {e}"),
    };
    let (repl, cluster) = commands(&proxy);
    if !send(ctx, addr, &repl.encode()) {
        return super::stats::push(false);
    }
    let ok = send(ctx, addr, &cluster.encode(ctx.config.enable_compression));
    super::stats::push(ok);
    if ok {
        log::info!("sync: {addr} now at epoch {}", proxy.epoch);
    }
}

/// The SETREPL and SETCLUSTER a proxy must get for `proxy`'s view.
pub fn commands(proxy: &Proxy) -> (SetRepl, SetCluster) {
    let name = proxy.cluster_name.clone().unwrap_or_default();
    let repl = SetRepl::from_nodes(proxy.epoch, &name, &proxy.nodes);
    let local = proxy
        .nodes
        .iter()
        .filter(|n| n.repl.role == Role::Master && !name.is_empty())
        .map(|n| (n.address.clone(), n.slots.clone()))
        .collect();
    let peer = proxy
        .peers
        .iter()
        .map(|p| (p.proxy_address.clone(), p.slots.clone()))
        .collect();
    let cluster = SetCluster {
        epoch: proxy.epoch,
        force: false,
        cluster_name: name,
        local,
        peer,
        config: proxy.cluster_config.unwrap_or_default(),
        config_ignored: false,
    };
    (repl, cluster)
}

/// Sends one UMCTL command; true when applied or already superseded (`OLD_EPOCH`).
fn send(ctx: &Ctx, addr: &str, args: &[String]) -> bool {
    let what = args.get(1).map_or("", String::as_str);
    match ctx.proxies.call(addr, args) {
        Ok(Value::Simple(_)) => true,
        Ok(Value::Error(e)) if e == "OLD_EPOCH" => true,
        Ok(Value::Error(e)) => {
            if e == "ERR_NOT_MY_META" {
                ctx.proxies.forget(addr);
            }
            log::warn!("sync: {addr}: {what} refused: {e}");
            false
        }
        Ok(other) => {
            log::warn!("sync: {addr}: {what}: unexpected reply {other:?}");
            false
        }
        Err(e) => {
            log::warn!("sync: {addr}: {what}: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_proxy_gets_free_masters_and_the_empty_cluster() {
        let p: Proxy = serde_json::from_str(
            r#"{"cluster_name":null,"address":"h:6001","epoch":9,
            "nodes":[{"address":"h:7001","proxy_address":"h:6001","slots":[],
            "repl":{"role":"master","peers":[]}}],"peers":[],"cluster_config":null}"#,
        )
        .unwrap();
        let (repl, sc) = commands(&p);
        assert_eq!(
            repl.encode().join(" "),
            "UMCTL SETREPL 9 NOFLAG master  h:7001 0"
        );
        assert_eq!(
            sc.encode(false)[..6].join(" "),
            "UMCTL SETCLUSTER v2 9 NOFLAG "
        );
        assert!(sc.local.is_empty());
    }

    #[test]
    fn cluster_proxy_sends_masters_as_local_and_every_role_as_repl() {
        let p: Proxy = serde_json::from_str(
            r#"{"cluster_name":"db","address":"h:6001","epoch":4,
            "nodes":[
              {"address":"h:7001","proxy_address":"h:6001","slots":[{"range_list":[[0,8191]],"tag":"None"}],
               "repl":{"role":"master","peers":[{"node_address":"h:7004","proxy_address":"h:6002"}]}},
              {"address":"h:7002","proxy_address":"h:6001","slots":[],
               "repl":{"role":"replica","peers":[{"node_address":"h:7003","proxy_address":"h:6002"}]}}],
            "peers":[{"proxy_address":"h:6002","slots":[{"range_list":[[8192,16383]],"tag":"None"}]}],
            "cluster_config":null}"#,
        )
        .unwrap();
        let (repl, sc) = commands(&p);
        assert_eq!(
            repl.encode().join(" "),
            "UMCTL SETREPL 4 NOFLAG master db h:7001 1 h:7004 h:6002 \
             replica db h:7002 1 h:7003 h:6002"
        );
        let text = sc.encode(false).join(" ");
        assert!(
            text.starts_with(
                "UMCTL SETCLUSTER v2 4 NOFLAG db h:7001 1 0-8191 PEER h:6002 1 8192-16383 CONFIG"
            ),
            "{text}"
        );
    }
}
