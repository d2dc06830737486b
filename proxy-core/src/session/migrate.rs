//! The session's hook into slot migration: before a data command on a slot of a tagged
//! range is routed, hold it (source, until the destination took over), redirect it, or pull
//! its keys to this proxy (destination). Nothing happens while no task exists. See
//! `crate::migration::gate` and `docs/migration.md`.

use super::Session;
use crate::command::Keys;
use crate::migration::pull::pull;
use crate::migration::stats::Counter;
use crate::migration::{gate, Gate};
use crate::resp::compose;
use crate::resp::request::Request;
use crate::slot::key_slot;
use bytes::Bytes;
use std::time::Duration;

/// Poll interval while holding a request for the switch.
const HOLD_POLL: Duration = Duration::from_millis(1);

impl Session {
    /// True when `req` may now be routed as usual; false when a reply was queued instead.
    pub(super) async fn migration_gate(
        &mut self,
        req: &Request,
        keys: Keys,
        blocking: bool,
    ) -> bool {
        loop {
            let view = self.shard.view();
            if view.snap.migrations.is_empty() {
                return true;
            }
            let Ok(plan) = keys.plan(req) else {
                return true;
            };
            let mut gates = Vec::new();
            let mut first_slot = None;
            let mut multi_slot = false;
            for i in plan.indices() {
                let key = req.arg(i).unwrap_or_default();
                let slot = key_slot(key);
                match first_slot {
                    None => first_slot = Some(slot),
                    Some(s) if s != slot => multi_slot = true,
                    Some(_) => {}
                }
                gates.push((i, slot, gate(&view.snap, slot)));
            }
            if gates.iter().all(|(_, _, g)| matches!(g, Gate::Serve)) {
                return true;
            }
            if let Some(Gate::Hold(t)) = gates
                .iter()
                .map(|(_, _, g)| g)
                .find(|g| matches!(g, Gate::Hold(_)))
            {
                if t.started.elapsed() > t.max_blocking {
                    self.reply_static(b"-TRYAGAIN slot migration switch in progress\r\n");
                    return false;
                }
                glommio::timer::sleep(HOLD_POLL).await;
                continue;
            }
            if let Some((_, slot, Gate::Moved(addr))) =
                gates.iter().find(|(_, _, g)| matches!(g, Gate::Moved(_)))
            {
                if multi_slot {
                    self.reply_static(
                        b"-TRYAGAIN Multiple keys request during rehashing of slot\r\n",
                    );
                    return false;
                }
                let peer = view.snap.peer.iter().position(|(a, _)| a == addr);
                if self.shard.config.active_redirection {
                    if let Some(g) = peer.and_then(|p| self.peer_group(&view, p as u16)) {
                        self.forward_peer(&g, req, blocking).await;
                        return false;
                    }
                }
                let mut out = Vec::with_capacity(40);
                compose::moved(&mut out, *slot, addr);
                self.reply(Bytes::from(out));
                return false;
            }
            let reg = &self.shard.control.migrations;
            let timeout = Duration::from_millis(self.shard.config.backend_timeout.max(1));
            let counter = if blocking {
                Counter::BlockingCommands
            } else {
                Counter::NonBlockingCommands
            };
            reg.stats.add(counter, 1);
            for (i, _, g) in &gates {
                let Gate::Pull(t) = g else { continue };
                let key = req.arg(*i).unwrap_or_default();
                if let Err(e) = pull(t, key, &reg.locks, &reg.stats, timeout).await {
                    self.error(&e.message());
                    return false;
                }
            }
            // why: a SETCLUSTER that arrived during the pull may have changed the tasks.
            if self.shard.view().snap.generation == view.snap.generation {
                return true;
            }
        }
    }

    /// Whether a transaction pinned to `slot` may still run here: not on a range this proxy
    /// is giving away (its queued writes would reach the source after the switch).
    pub(super) fn migration_allows_exec(&self, slot: u16) -> bool {
        let view = self.shard.view();
        view.snap.migrations.is_empty()
            || !matches!(gate(&view.snap, slot), Gate::Hold(_) | Gate::Moved(_))
    }
}
