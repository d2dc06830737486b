//! Routing a data command: a pure function of the snapshot and the request.
//!
//! Contract (the order in which outcomes are decided):
//! 1. keys cannot be found (arity, `numkeys` 0)                 -> [`Route::NoKey`]
//! 2. keys hash to different slots                                  -> [`Route::CrossSlot`]
//! 3. the proxy has no cluster                                      -> [`Route::NoCluster`]
//! 4. a local Redis owns the slot (whatever its migration tag)      -> [`Route::Local`]
//! 5. a peer proxy owns it                                          -> [`Route::Moved`]
//! 6. nobody does                                                   -> [`Route::SlotUnbound`]
//!
//! Slot migration is decided before routing, by the session hook (`session/migrate.rs`), from
//! the live task states; this function stays a pure function of the snapshot.

use crate::command::{KeyError, Keys};
use crate::resp::request::Request;
use crate::slot::{key_slot, Owner};
use crate::snapshot::ClusterSnapshot;

/// Where a data command goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Forward to local backend `backend` (index into the snapshot's local list).
    Local {
        /// Slot of the keys.
        slot: u16,
        /// Local backend index.
        backend: u16,
    },
    /// Reply `-MOVED <slot> <peer address>`.
    Moved {
        /// Slot of the keys.
        slot: u16,
        /// Peer index.
        peer: u16,
    },
    /// Reply `-slot not covered <slot>`.
    SlotUnbound(u16),
    /// No cluster configured: `-ERR_CLUSTER_NOT_FOUND` or MOVED to the default address.
    NoCluster(u16),
    /// Keys in several slots: `-CROSSSLOT ...`, or split when every slot is local.
    CrossSlot,
    /// No key to route by.
    NoKey(KeyError),
}

/// Routes `req`, whose keys are described by `keys`.
pub fn route(snap: &ClusterSnapshot, req: &Request, keys: Keys) -> Route {
    let plan = match keys.plan(req) {
        Ok(p) => p,
        Err(e) => return Route::NoKey(e),
    };
    let mut slot = None;
    for i in plan.indices() {
        let s = key_slot(req.arg(i).unwrap_or_default());
        match slot {
            None => slot = Some(s),
            Some(prev) if prev != s => return Route::CrossSlot,
            Some(_) => {}
        }
    }
    let Some(slot) = slot else {
        return Route::NoKey(KeyError::WrongArity);
    };
    if !snap.has_cluster() {
        return Route::NoCluster(slot);
    }
    match snap.table.owner(slot) {
        Owner::Local(backend) => Route::Local { slot, backend },
        Owner::Peer(peer) => Route::Moved { slot, peer },
        Owner::Unbound => Route::SlotUnbound(slot),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{lookup, Kind};
    use crate::resp::{request, Limits};
    use bytes::Bytes;
    use control::umctl::SetCluster;

    fn snap(s: &str) -> ClusterSnapshot {
        let args: Vec<&[u8]> = s.split(' ').map(str::as_bytes).collect();
        ClusterSnapshot::build(SetCluster::decode(&args).unwrap(), 1).unwrap()
    }

    fn r(snap: &ClusterSnapshot, line: &str) -> Route {
        let buf = Bytes::from(format!("{line}\r\n"));
        let p = request::parse(&buf, &Limits::REQUEST).unwrap().unwrap();
        let req = Request::new(buf, p);
        let Some(Kind::Data(keys)) = lookup(req.arg(0).unwrap()) else {
            panic!("not a data command: {line}");
        };
        route(snap, &req, keys)
    }

    #[test]
    fn outcomes() {
        let s = snap("v2 1 NOFLAG db r:1 1 0-8191 PEER p:1 1 8192-16000");
        assert_eq!(
            r(&s, "get b"),
            Route::Local {
                slot: 3300,
                backend: 0
            }
        );
        assert_eq!(
            r(&s, "get a"),
            Route::Moved {
                slot: 15495,
                peer: 0
            }
        );
        assert_eq!(
            r(&s, "get {a}x"),
            Route::Moved {
                slot: 15495,
                peer: 0
            }
        );
        assert_eq!(
            r(&s, "get foo"),
            Route::Moved {
                slot: 12182,
                peer: 0
            }
        );
        let uncovered = snap("v2 1 NOFLAG db r:1 1 0-8191");
        assert_eq!(r(&uncovered, "get a"), Route::SlotUnbound(15495));
        assert_eq!(
            r(&ClusterSnapshot::default(), "get a"),
            Route::NoCluster(15495)
        );
        assert_eq!(r(&s, "get"), Route::NoKey(KeyError::WrongArity));
        assert_eq!(r(&s, "mget a b"), Route::CrossSlot);
        assert_eq!(
            r(&s, "mget {b}1 {b}2"),
            Route::Local {
                slot: 3300,
                backend: 0
            }
        );
    }

    proptest::proptest! {
        #[test]
        fn local_exactly_when_the_slot_is_in_a_local_range(
            key in "[a-z{}]{0,12}",
            split in 0u16..16383,
        ) {
            let s = snap(&format!("v2 1 NOFLAG db r:1 1 0-{split} PEER p:1 1 {}-16383", split + 1));
            let slot = crate::slot::key_slot(key.as_bytes());
            let got = r(&s, &format!("get \"{key}\""));
            if slot <= split {
                proptest::prop_assert_eq!(got, Route::Local { slot, backend: 0 });
            } else {
                proptest::prop_assert_eq!(got, Route::Moved { slot, peer: 0 });
            }
        }
    }

    #[test]
    fn keys_come_from_the_command_table_not_argument_one() {
        let s = snap("v2 1 NOFLAG db r:1 1 0-8191 PEER p:1 1 8192-16383");
        // EVAL's key is argument 3: `b` (local), not the script.
        assert_eq!(
            r(&s, "eval x 1 b"),
            Route::Local {
                slot: 3300,
                backend: 0
            }
        );
        assert_eq!(
            r(&s, "eval x 1 a"),
            Route::Moved {
                slot: 15495,
                peer: 0
            }
        );
        assert_eq!(r(&s, "eval x 0"), Route::NoKey(KeyError::NoKeys));
        assert_eq!(
            r(&s, "object encoding b"),
            Route::Local {
                slot: 3300,
                backend: 0
            }
        );
        assert_eq!(
            r(&s, "xread count 1 streams a 0"),
            Route::Moved {
                slot: 15495,
                peer: 0
            }
        );
        assert_eq!(
            r(&s, "set b a"),
            Route::Local {
                slot: 3300,
                backend: 0
            }
        );
    }
}
