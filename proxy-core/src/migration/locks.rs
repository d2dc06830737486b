//! Per-key locks shared by the destination's scanner thread and its cores' on-demand pulls:
//! a key is moved (DUMP at the source, RESTORE here, DEL at the source) by exactly one of them
//! at a time, so a copy taken before a pull can never be restored after the client deleted
//! the key. Process-wide, because a key's commands may arrive on any core. Touched only for
//! keys of a range being imported, never on the ordinary request path.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The set of keys being moved now.
#[derive(Debug, Default)]
pub struct KeyLocks {
    held: Mutex<HashSet<Vec<u8>>>,
}

/// Releases its key on drop (also when a pull fails half way).
pub struct KeyGuard {
    locks: Arc<KeyLocks>,
    key: Vec<u8>,
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        if let Ok(mut h) = self.locks.held.lock() {
            h.remove(&self.key);
        }
    }
}

impl KeyLocks {
    /// Takes `key` if nobody holds it.
    pub fn try_lock(self: &Arc<Self>, key: &[u8]) -> Option<KeyGuard> {
        let mut h = self.held.lock().ok()?;
        if !h.insert(key.to_vec()) {
            return None;
        }
        Some(KeyGuard {
            locks: self.clone(),
            key: key.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let l = Arc::new(KeyLocks::default());
        let g = l.try_lock(b"k").unwrap();
        assert!(l.try_lock(b"k").is_none());
        assert!(l.try_lock(b"j").is_some());
        drop(g);
        assert!(l.try_lock(b"k").is_some());
    }
}
