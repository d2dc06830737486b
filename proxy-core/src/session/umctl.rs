//! `UMCTL` control commands (spec 2.11): SETCLUSTER, SETREPL, INFOREPL, GETEPOCH, LISTCLUSTER,
//! INFO, READY, SHUTDOWN, the migration ones (PRECHECK, PRESWITCH, FINALSWITCH, INFOMGR, STATS).
//! `UMCTL SLOWLOG` is answered with the standard SLOWLOG in `admin.rs`. DEBUG answers a clear
//! "not supported yet".

use super::{Pending, Session};
use crate::cluster_reply::is_my_meta;
use crate::errors::{fixed, Disposition};
use crate::migration::registry::Env;
use crate::migration::switch::{self, SwitchCommand, SwitchRefusal};
use crate::migration::{MigrationState, TaskStates};
use crate::resp::compose;
use crate::resp::request::Request;
use crate::snapshot::host_of;
use crate::snapshot::ClusterSnapshot;
use bytes::Bytes;
use control::model::{Role, SlotRange, SlotRangeTag};
use control::umctl::{SetCluster, SetRepl, SwitchArgs};
use std::sync::Arc;
use std::time::Duration;

const NOT_YET: &[&str] = &["debug"];

impl Session {
    pub(super) async fn umctl(&mut self, req: &Request) -> Disposition {
        let Some(sub) = req.arg(1) else {
            self.reply_static(fixed::MISSING_SUB);
            return Disposition::Keep;
        };
        let sub = String::from_utf8_lossy(sub).to_ascii_lowercase();
        let view = self.shard.view();
        match sub.as_str() {
            "setcluster" => self.setcluster(req).await,
            "setrepl" => self.setrepl(req).await,
            "inforepl" => {
                let set = self.shard.control.repl.lock().map(|s| s.set.clone());
                match set {
                    Ok(set) => self.reply(Bytes::from(inforepl_reply(&set))),
                    Err(_) => self.error("ERR internal: replication state unavailable"),
                }
            }
            "getepoch" => {
                let epoch = self.shard.control.epoch.lock().map_or(0, |e| e.epoch);
                let mut out = Vec::new();
                compose::integer(&mut out, epoch as i64);
                self.reply(Bytes::from(out));
            }
            "listcluster" => {
                let mut out = Vec::new();
                compose::array_header(&mut out, 1);
                compose::bulk(&mut out, view.snap.name.as_str().as_bytes());
                self.reply(Bytes::from(out));
            }
            "ready" => {
                let mut out = Vec::new();
                compose::integer(&mut out, i64::from(view.snap.ready()));
                self.reply(Bytes::from(out));
            }
            "info" => {
                let repl = self.shard.control.repl.lock().map(|s| s.set.clone());
                let repl = repl.unwrap_or_default();
                let states = self.shard.control.migrations.states();
                self.reply(Bytes::from(info_reply(&view.snap, &repl, &states)));
            }
            "infomgr" => {
                let lines = self.shard.control.migrations.states().finished_lines();
                self.reply(Bytes::from(lines_reply(&lines)));
            }
            "stats" => {
                let lines = self.shard.control.migrations.stats.lines();
                self.reply(Bytes::from(lines_reply(&lines)));
            }
            "precheck" | "preswitch" | "finalswitch" => self.switch_cmd(req),
            "shutdown" => {
                self.reply_static(fixed::OK);
                self.queue.push(Pending::Exit);
                return Disposition::Close;
            }
            s if NOT_YET.contains(&s) => {
                let msg = format!("ERR UMCTL {s} is not supported yet");
                self.error(&msg);
            }
            _ => self.reply_static(fixed::INVALID_SUB),
        }
        Disposition::Keep
    }

    async fn setcluster(&mut self, req: &Request) {
        let args: Vec<&[u8]> = req.args().skip(2).collect();
        let sc = match SetCluster::decode(&args) {
            Ok(sc) => sc,
            Err(e) => {
                let msg = format!("Failed to parse args: {e}");
                return self.error(&msg);
            }
        };
        if !is_my_meta(&sc.local, &self.shard.config.announce_address) {
            return self.reply_static(fixed::NOT_MY_META);
        }
        let warning = sc.config_ignored;
        let snap = {
            let Ok(mut state) = self.shard.control.epoch.lock() else {
                return self.error("ERR internal: epoch state unavailable");
            };
            if !sc.force && sc.epoch <= state.epoch {
                drop(state);
                return self.reply_static(fixed::OLD_EPOCH);
            }
            let generation = state.generation + 1;
            match ClusterSnapshot::build(sc, generation) {
                Ok(mut s) => {
                    let env = self.migration_env();
                    self.shard.control.migrations.attach(&mut s, &env);
                    state.epoch = s.epoch;
                    state.generation = generation;
                    s
                }
                Err(_) => {
                    drop(state);
                    return self.error("Failed to parse args: InvalidArgs");
                }
            }
        };
        self.shard.broadcast(Arc::new(snap)).await;
        self.reply_static(if warning {
            fixed::WARNING_CONFIG
        } else {
            fixed::OK
        });
    }

    fn migration_env(&self) -> Env {
        let ctl = &self.shard.control;
        Env {
            cores: ctl.stats.len(),
            control_password: self.shard.config.control_password.clone(),
            timeout: Duration::from_millis(self.shard.config.backend_timeout.max(1000)),
            locks: ctl.migrations.locks.clone(),
            stats: ctl.migrations.stats.clone(),
        }
    }

    /// `UMCTL PRECHECK|PRESWITCH|FINALSWITCH` at the destination (spec 3.3). FINALSWITCH is
    /// accepted only once this side's copy is complete (our scanner runs here).
    fn switch_cmd(&mut self, req: &Request) {
        let Some(cmd) = req.arg(1).and_then(SwitchCommand::parse) else {
            return self.reply_static(fixed::INVALID_SUB);
        };
        let args: Vec<String> = req
            .args()
            .skip(2)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let decoded = SwitchArgs::decode(&refs);
        let epoch = self.shard.control.epoch.lock().map_or(0, |e| e.epoch);
        let reg = &self.shard.control.migrations;
        let states = reg.states();
        let task = match switch::check(epoch, &states, decoded.as_ref()) {
            Ok(i) => states.0.get(i).and_then(|(t, _)| reg.find(t)),
            Err(r) => return self.error(r.message()),
        };
        let Some(task) = task else {
            return self.error(SwitchRefusal::TaskNotFound.message());
        };
        match cmd {
            SwitchCommand::PreCheck => {}
            SwitchCommand::PreSwitch => {
                if task.state() == MigrationState::PreCheck {
                    task.set_state(MigrationState::PreSwitch);
                }
            }
            SwitchCommand::FinalSwitch => {
                if task.state() != MigrationState::SwitchCommitted {
                    return self.error(SwitchRefusal::NotReady.message());
                }
            }
        }
        self.reply_static(fixed::OK);
    }

    /// `UMCTL SETREPL`: validates, stores the new roles; the replicator task applies them and
    /// keeps them. Masters are promoted here too, before the `+OK`.
    ///
    /// why: the coordinator sends SETCLUSTER right after SETREPL; had the promotion waited for
    /// the replicator's next poll, writes routed by the new SETCLUSTER would reach a node still
    /// a replica and get `-READONLY` (seen by the chaos and migration-kill tests' writers).
    async fn setrepl(&mut self, req: &Request) {
        let args: Vec<&[u8]> = req.args().skip(2).collect();
        let Ok(set) = SetRepl::decode(&args) else {
            return self.error("Invalid arguments");
        };
        let me = host_of(&self.shard.config.announce_address);
        if set.entries.iter().any(|e| host_of(&e.node_address) != me) {
            return self.reply_static(fixed::NOT_MY_META);
        }
        let set = match self.store_repl(set) {
            Ok(set) => set,
            Err(reply) => return self.reply_static(reply),
        };
        let timeout = Duration::from_millis(self.shard.config.backend_timeout.max(100));
        for e in set.entries.iter().filter(|e| e.role == Role::Master) {
            if let Err(err) = crate::repl::replicaof(&e.node_address, None, timeout).await {
                // The replicator retries; the roles are accepted either way.
                log::warn!("SETREPL: REPLICAOF NO ONE on {}: {err}", e.node_address);
            }
        }
        self.reply_static(fixed::OK);
    }

    /// Stores `set` as the process's replication roles unless its epoch is old; the error is
    /// the reply to give.
    fn store_repl(&self, set: SetRepl) -> Result<Arc<SetRepl>, &'static [u8]> {
        let Ok(mut state) = self.shard.control.repl.lock() else {
            return Err(b"-ERR internal: replication state unavailable\r\n");
        };
        if !set.force && set.epoch <= state.epoch {
            return Err(fixed::OLD_EPOCH);
        }
        state.epoch = set.epoch;
        state.generation += 1;
        let set = Arc::new(set);
        state.set = set.clone();
        Ok(set)
    }
}

/// `UMCTL INFOREPL`: one array per replicator, lines as the original prints them.
///
/// ```text
/// *<n> *<3+peers> $cluster:<name>\n $role:master|replica\n $node_address:<addr>\n
///                 $replica:<node>@<proxy>\n... (master) | $master:<node>@<proxy>\n (replica)
/// ```
fn inforepl_reply(set: &SetRepl) -> Vec<u8> {
    let mut out = Vec::new();
    compose::array_header(&mut out, set.entries.len());
    for e in &set.entries {
        let peers: Vec<String> = match e.role {
            Role::Master => e
                .peers
                .iter()
                .map(|p| format!("replica:{}@{}\n", p.node_address, p.proxy_address))
                .collect(),
            Role::Replica => e
                .master()
                .map(|p| format!("master:{}@{}\n", p.node_address, p.proxy_address))
                .into_iter()
                .collect(),
        };
        compose::array_header(&mut out, 3 + peers.len());
        compose::bulk(&mut out, format!("cluster:{}\n", e.cluster_name).as_bytes());
        compose::bulk(&mut out, format!("role:{}\n", e.role.as_str()).as_bytes());
        compose::bulk(
            &mut out,
            format!("node_address:{}\n", e.node_address).as_bytes(),
        );
        for p in &peers {
            compose::bulk(&mut out, p.as_bytes());
        }
    }
    out
}

fn ranges_reply(out: &mut Vec<u8>, ranges: &[SlotRange]) {
    compose::array_header(out, ranges.len());
    for r in ranges {
        match r.tag.meta() {
            None => {
                compose::array_header(out, 1);
                compose::bulk(out, r.range_list.to_text().as_bytes());
            }
            Some(m) => {
                let tag = match r.tag {
                    SlotRangeTag::Importing(_) => "IMPORTING",
                    _ => "MIGRATING",
                };
                compose::array_header(out, 7);
                compose::bulk(out, tag.as_bytes());
                compose::bulk(out, m.epoch.to_string().as_bytes());
                compose::bulk(
                    out,
                    format!("src_proxy: {}", m.src_proxy_address).as_bytes(),
                );
                compose::bulk(out, format!("src_node: {}", m.src_node_address).as_bytes());
                compose::bulk(
                    out,
                    format!("dst_proxy: {}", m.dst_proxy_address).as_bytes(),
                );
                compose::bulk(out, format!("dst_node: {}", m.dst_node_address).as_bytes());
                compose::bulk(out, r.range_list.to_text().as_bytes());
            }
        }
    }
}

/// An array of bulk strings.
fn lines_reply(lines: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    compose::array_header(&mut out, lines.len());
    for l in lines {
        compose::bulk(&mut out, l.as_bytes());
    }
    out
}

/// `UMCTL INFO`: the cluster section as nested arrays, the replication section, then one
/// line per migration task: `<rangelist> <src_node> -> <dst_node> <STATE>`.
fn info_reply(snap: &ClusterSnapshot, repl: &SetRepl, states: &TaskStates) -> Vec<u8> {
    let mut out = Vec::new();
    compose::array_header(&mut out, 6);
    compose::bulk(&mut out, b"Cluster");
    compose::array_header(&mut out, 5);
    compose::bulk(&mut out, snap.name.as_str().as_bytes());
    compose::bulk(&mut out, b"local");
    compose::array_header(&mut out, 3 + snap.local.len());
    compose::bulk(&mut out, format!("name: {}", snap.name).as_bytes());
    compose::bulk(&mut out, format!("epoch: {}", snap.epoch).as_bytes());
    compose::bulk(&mut out, b"nodes:");
    for (addr, ranges) in &snap.local {
        compose::array_header(&mut out, 2);
        compose::bulk(&mut out, addr.as_bytes());
        ranges_reply(&mut out, ranges);
    }
    compose::bulk(&mut out, b"peer");
    compose::array_header(&mut out, 1 + snap.peer.len());
    compose::bulk(&mut out, b"peers:");
    for (addr, ranges) in &snap.peer {
        compose::array_header(&mut out, 2);
        compose::bulk(&mut out, addr.as_bytes());
        ranges_reply(&mut out, ranges);
    }
    compose::bulk(&mut out, b"Replication");
    out.extend_from_slice(&inforepl_reply(repl));
    compose::bulk(&mut out, b"Migration");
    let tasks: Vec<String> = states
        .0
        .iter()
        .filter_map(|(t, st)| {
            let m = t.slot_range.tag.meta()?;
            Some(format!(
                "{} {} -> {} {}",
                t.slot_range.range_list,
                m.src_node_address,
                m.dst_node_address,
                st.name()
            ))
        })
        .collect();
    compose::array_header(&mut out, 1 + tasks.len());
    compose::bulk(&mut out, format!("name: {}", snap.name).as_bytes());
    for t in &tasks {
        compose::bulk(&mut out, t.as_bytes());
    }
    out
}
