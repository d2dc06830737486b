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

/// One part: a slot, its owner and the key indices (0-based among the keys).
struct Part {
    slot: u16,
    owner: Owner,
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
            let owner = view.snap.table.owner(slot);
            let usable = match owner {
                Owner::Local(_) => true,
                // why: in active redirection mode the client cannot split by itself.
                Owner::Peer(_) => self.shard.config.active_redirection,
                Owner::Unbound => false,
            };
            if !usable {
                return false;
            }
            match parts.iter_mut().find(|p| p.slot == slot) {
                Some(p) => p.keys.push(k),
                None => parts.push(Part {
                    slot,
                    owner,
                    keys: vec![k],
                }),
            }
        }
        let mut slots = Vec::with_capacity(parts.len());
        let mut pos = Vec::with_capacity(parts.len());
        for p in parts {
            let group = match p.owner {
                Owner::Local(b) => view.backends.get(usize::from(b)).cloned(),
                Owner::Peer(i) => self.peer_group(&view, i),
                Owner::Unbound => None,
            };
            let Some(group) = group else {
                self.reply_static(fixed::CLUSTER_NOT_FOUND);
                return true;
            };
            let args = std::iter::once(name).chain(p.keys.iter().flat_map(|&k| {
                (0..width).map(move |j| req.arg(1 + k * width + j).unwrap_or_default())
            }));
            let n = 1 + p.keys.len() * width;
            let bytes = match p.owner {
                Owner::Local(_) => {
                    let mut out = Vec::with_capacity(64 + 32 * n);
                    compose::array_header(&mut out, n);
                    for a in args {
                        compose::bulk(&mut out, a);
                    }
                    Some(Bytes::from(out))
                }
                _ => self.peer_bytes(args, n),
            };
            let slot = match bytes {
                Some(b) => self.send_for(&group, b).await,
                None => {
                    let s = ReplySlot::new();
                    s.fill(Bytes::from_static(b"-ERR_TOO_MANY_REDIRECTIONS\r\n"));
                    s
                }
            };
            slots.push(slot);
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
