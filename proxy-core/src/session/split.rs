//! Multi-key commands whose keys are in several slots, all served by this proxy: split per
//! slot (not per key), each part forwarded like a single-slot command, and the replies merged
//! back in the client's key order ([`super::merge`]). Keys owned elsewhere keep `-CROSSSLOT`,
//! as a cluster node answers, so cluster clients split them.

use super::merge::MergeKind;
use super::{Pending, Session};
use crate::errors::fixed;
use crate::resp::compose;
use crate::resp::request::Request;
use crate::slot::{key_slot, Owner};
use crate::sync::ReplySlot;
use bytes::Bytes;
use std::rc::Rc;

/// A split command waiting for its parts.
pub struct Merge {
    /// How the parts combine.
    pub kind: MergeKind,
    /// Reply slot of each part, in split order.
    pub parts: Vec<Rc<ReplySlot>>,
    /// Key positions of each part.
    pub pos: Vec<Vec<usize>>,
    /// Number of keys.
    pub total: usize,
    /// Decode compressed values in the merged reply.
    pub decode: bool,
}

/// How `name` is split, if it can be: its merge kind and how many arguments go with each key.
fn splittable(name: &[u8]) -> Option<(MergeKind, usize)> {
    let mut lower = [0u8; 8];
    let l = lower.get_mut(..name.len())?;
    for (d, s) in l.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    match &*l {
        b"mget" => Some((MergeKind::Array, 1)),
        b"del" | b"exists" | b"unlink" | b"touch" => Some((MergeKind::Sum, 1)),
        // why: MSETNX is all-or-nothing; split parts could set some keys and not others.
        b"mset" => Some((MergeKind::AllOk, 2)),
        _ => None,
    }
}

/// One part: a slot, its backend and the key indices (0-based among the keys).
struct Part {
    slot: u16,
    backend: u16,
    keys: Vec<usize>,
}

impl Session {
    /// Splits a cross-slot `req` if it is a splittable command whose slots are all local.
    /// Returns false (nothing queued) otherwise.
    pub(super) async fn try_split(&mut self, req: &Request, decode: bool) -> bool {
        let name = req.arg(0).unwrap_or_default();
        let Some((kind, width)) = splittable(name) else {
            return false;
        };
        let view = self.shard.view();
        let nkeys = (req.len().saturating_sub(1)) / width;
        let mut parts: Vec<Part> = Vec::new();
        for k in 0..nkeys {
            let key = req.arg(1 + k * width).unwrap_or_default();
            let slot = key_slot(key);
            let Owner::Local(backend) = view.snap.table.owner(slot) else {
                return false;
            };
            match parts.iter_mut().find(|p| p.slot == slot) {
                Some(p) => p.keys.push(k),
                None => parts.push(Part {
                    slot,
                    backend,
                    keys: vec![k],
                }),
            }
        }
        let mut slots = Vec::with_capacity(parts.len());
        let mut pos = Vec::with_capacity(parts.len());
        for p in parts {
            let Some(group) = view.backends.get(usize::from(p.backend)) else {
                self.reply_static(fixed::CLUSTER_NOT_FOUND);
                return true;
            };
            let mut out = Vec::with_capacity(64 + 32 * p.keys.len() * width);
            compose::array_header(&mut out, 1 + p.keys.len() * width);
            compose::bulk(&mut out, name);
            for &k in &p.keys {
                for j in 0..width {
                    compose::bulk(&mut out, req.arg(1 + k * width + j).unwrap_or_default());
                }
            }
            slots.push(self.send_for(group, Bytes::from(out)).await);
            pos.push(p.keys);
        }
        self.queue.push(Pending::Merge(Box::new(Merge {
            kind,
            parts: slots,
            pos,
            total: nkeys,
            decode,
        })));
        true
    }
}
