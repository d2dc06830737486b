//! Merging the replies of a multi-key command split across slots back into the one reply the
//! client asked for: pure functions over the backends' reply bytes.

use crate::resp::{compose, reply, Limits};
use bytes::Bytes;

/// How the parts of a split command combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeKind {
    /// `MGET`: each part is an array; element `j` of part `i` goes to position `pos[i][j]`.
    Array,
    /// `DEL`, `EXISTS`, `UNLINK`, `TOUCH`: integer replies summed.
    Sum,
    /// `MSET`: `+OK` only if every part is `+OK`.
    AllOk,
    /// `KEYS`: arrays concatenated.
    Concat,
    /// `FLUSHALL`, `SCRIPT LOAD`, `CONFIG SET`...: every backend must give the same reply,
    /// which is the answer.
    Same,
    /// `SCRIPT KILL`, `FUNCTION KILL`: `+OK` if any backend killed one, else the first reply
    /// (`-NOTBUSY ...`).
    AnyOk,
    /// `RANDOMKEY`: the first reply that is not nil.
    FirstNonNil,
    /// `INFO keyspace`: `dbN:keys=..,expires=..,avg_ttl=..` lines summed per db (avg_ttl
    /// weighted by expires).
    Keyspace,
    /// `SCRIPT EXISTS`: arrays of 0/1 combined element-wise with AND (a script is there only
    /// if every backend has it, so EVALSHA works wherever its keys land).
    AndArray,
    /// `WAIT`: the smallest integer (the replicas that acknowledged on every backend).
    Min,
}

/// The first part that is an error, if any. why: a failed part (backend down, wrong type)
/// must reach the client instead of a partial answer that looks complete.
fn first_error<'a>(parts: &[&'a [u8]]) -> Option<&'a [u8]> {
    parts
        .iter()
        .copied()
        .find(|p| matches!(p.first(), Some(b'-' | b'!')))
}

/// Merges `parts` (in split order); `pos[i]` lists where part `i`'s keys are in the request,
/// counted from 0, and `total` is the number of keys.
pub fn merge(kind: MergeKind, parts: &[&[u8]], pos: &[Vec<usize>], total: usize) -> Bytes {
    if kind == MergeKind::AnyOk {
        return match parts.iter().find(|p| **p == b"+OK\r\n").or(parts.first()) {
            Some(p) => Bytes::copy_from_slice(p),
            None => Bytes::from_static(b"-ERR_CLUSTER_NOT_FOUND\r\n"),
        };
    }
    if let Some(e) = first_error(parts) {
        return Bytes::copy_from_slice(e);
    }
    let mut out = Vec::new();
    match kind {
        MergeKind::Sum | MergeKind::Min => {
            let mut ints = Vec::with_capacity(parts.len());
            for p in parts {
                let digits = p
                    .strip_prefix(b":")
                    .and_then(|d| d.strip_suffix(b"\r\n"))
                    .and_then(|d| crate::resp::line::parse_int(d, "integer").ok());
                match digits {
                    Some(n) => ints.push(n),
                    None => return unexpected(),
                }
            }
            let n = if kind == MergeKind::Min {
                ints.iter().copied().min().unwrap_or(0)
            } else {
                ints.iter().fold(0i64, |a, &b| a.saturating_add(b))
            };
            compose::integer(&mut out, n);
        }
        MergeKind::AllOk => match parts.iter().find(|p| **p != b"+OK\r\n") {
            Some(p) => return Bytes::copy_from_slice(p),
            None => out.extend_from_slice(b"+OK\r\n"),
        },
        MergeKind::Concat | MergeKind::AndArray => {
            let mut all: Vec<Vec<&[u8]>> = Vec::with_capacity(parts.len());
            for p in parts {
                let Some(elems) = reply::array_elements(p, &Limits::REPLY) else {
                    return unexpected();
                };
                all.push(elems.iter().filter_map(|&(s, e)| p.get(s..e)).collect());
            }
            if kind == MergeKind::Concat {
                compose::array_header(&mut out, all.iter().map(Vec::len).sum());
                for el in all.iter().flatten() {
                    out.extend_from_slice(el);
                }
            } else {
                let n = all.first().map_or(0, Vec::len);
                if all.iter().any(|a| a.len() != n) {
                    return unexpected();
                }
                compose::array_header(&mut out, n);
                for i in 0..n {
                    let one = all.iter().all(|a| a.get(i) == Some(&&b":1\r\n"[..]));
                    compose::integer(&mut out, i64::from(one));
                }
            }
        }
        MergeKind::Same => match parts.first() {
            Some(first) if parts.iter().all(|p| p == first) => {
                return Bytes::copy_from_slice(first)
            }
            Some(_) => {
                return Bytes::from_static(
                    b"-ERR proxy: the local backends answered differently\r\n",
                )
            }
            None => return Bytes::from_static(b"-ERR_CLUSTER_NOT_FOUND\r\n"),
        },
        MergeKind::FirstNonNil => {
            let nil = |p: &&[u8]| *p == b"$-1\r\n" || *p == b"_\r\n";
            return match parts.iter().find(|p| !nil(p)).or(parts.first()) {
                Some(p) => Bytes::copy_from_slice(p),
                None => Bytes::from_static(b"-ERR_CLUSTER_NOT_FOUND\r\n"),
            };
        }
        MergeKind::AnyOk => out.extend_from_slice(b"+OK\r\n"),
        MergeKind::Keyspace => {
            let text = keyspace(parts);
            compose::bulk(&mut out, text.as_bytes());
        }
        MergeKind::Array => {
            let mut slots: Vec<Option<&[u8]>> = vec![None; total];
            for (p, positions) in parts.iter().zip(pos) {
                let Some(elems) = reply::array_elements(p, &Limits::REPLY) else {
                    return unexpected();
                };
                if elems.len() != positions.len() {
                    return unexpected();
                }
                for (&(s, e), &at) in elems.iter().zip(positions) {
                    if let (Some(slot), Some(el)) = (slots.get_mut(at), p.get(s..e)) {
                        *slot = Some(el);
                    }
                }
            }
            compose::array_header(&mut out, total);
            for s in slots {
                match s {
                    Some(el) => out.extend_from_slice(el),
                    None => return unexpected(),
                }
            }
        }
    }
    Bytes::from(out)
}

/// Sums the `# Keyspace` sections of several `INFO keyspace` replies.
fn keyspace(parts: &[&[u8]]) -> String {
    // db index -> (keys, expires, avg_ttl * expires)
    let mut dbs: std::collections::BTreeMap<u64, (u64, u64, u128)> = Default::default();
    for p in parts {
        let text = String::from_utf8_lossy(p);
        for line in text.lines() {
            let Some((db, rest)) = line.trim().split_once(':') else {
                continue;
            };
            let Some(n) = db.strip_prefix("db").and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            let (mut keys, mut expires, mut ttl) = (0u64, 0u64, 0u64);
            for kv in rest.split(',') {
                match kv.split_once('=') {
                    Some(("keys", v)) => keys = v.parse().unwrap_or(0),
                    Some(("expires", v)) => expires = v.parse().unwrap_or(0),
                    Some(("avg_ttl", v)) => ttl = v.parse().unwrap_or(0),
                    _ => {}
                }
            }
            let e = dbs.entry(n).or_default();
            e.0 = e.0.saturating_add(keys);
            e.1 = e.1.saturating_add(expires);
            e.2 = e.2.saturating_add(u128::from(ttl) * u128::from(expires));
        }
    }
    let mut out = String::from("# Keyspace\r\n");
    for (db, (keys, expires, weighted)) in dbs {
        let avg = weighted.checked_div(u128::from(expires)).unwrap_or(0);
        out.push_str(&format!(
            "db{db}:keys={keys},expires={expires},avg_ttl={avg}\r\n"
        ));
    }
    out
}

fn unexpected() -> Bytes {
    Bytes::from_static(b"-ERR proxy: unexpected backend reply to a split command\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges() {
        let a: &[u8] = b"*2\r\n$1\r\nx\r\n$-1\r\n";
        let b: &[u8] = b"*1\r\n$1\r\ny\r\n";
        let m = merge(MergeKind::Array, &[a, b], &[vec![0, 2], vec![1]], 3);
        assert_eq!(&m[..], b"*3\r\n$1\r\nx\r\n$1\r\ny\r\n$-1\r\n");
        let m = merge(
            MergeKind::Sum,
            &[b":2\r\n", b":3\r\n"],
            &[vec![], vec![]],
            0,
        );
        assert_eq!(&m[..], b":5\r\n");
        let m = merge(MergeKind::AllOk, &[b"+OK\r\n", b"+OK\r\n"], &[], 0);
        assert_eq!(&m[..], b"+OK\r\n");
        let m = merge(MergeKind::AllOk, &[b"+OK\r\n", b"-ERR x\r\n"], &[], 0);
        assert_eq!(&m[..], b"-ERR x\r\n");
        let m = merge(
            MergeKind::Array,
            &[a, b"-ERR down\r\n"],
            &[vec![0, 2], vec![1]],
            3,
        );
        assert_eq!(&m[..], b"-ERR down\r\n");
        let m = merge(MergeKind::Array, &[a], &[vec![0]], 1);
        assert!(m.starts_with(b"-ERR proxy"));
        let k1: &[u8] = b"$48\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=100\r\n\r\n";
        let k2: &[u8] = b"$12\r\n# Keyspace\r\n\r\n";
        let k3: &[u8] = b"$48\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=300\r\n\r\n";
        let m = merge(MergeKind::Keyspace, &[k1, k2, k3], &[], 0);
        assert_eq!(
            &m[..],
            b"$46\r\n# Keyspace\r\ndb0:keys=5,expires=2,avg_ttl=200\r\n\r\n"
        );
        let m = merge(MergeKind::AnyOk, &[b"-NOTBUSY x\r\n", b"+OK\r\n"], &[], 0);
        assert_eq!(&m[..], b"+OK\r\n");
        let m = merge(MergeKind::Concat, &[a, b], &[], 0);
        assert_eq!(&m[..], b"*3\r\n$1\r\nx\r\n$-1\r\n$1\r\ny\r\n");
        let e: &[u8] = b"*2\r\n:1\r\n:1\r\n";
        let f: &[u8] = b"*2\r\n:1\r\n:0\r\n";
        let m = merge(MergeKind::AndArray, &[e, f], &[], 0);
        assert_eq!(&m[..], b"*2\r\n:1\r\n:0\r\n");
        let m = merge(MergeKind::Same, &[b"$1\r\nx\r\n", b"$1\r\nx\r\n"], &[], 0);
        assert_eq!(&m[..], b"$1\r\nx\r\n");
        let m = merge(
            MergeKind::FirstNonNil,
            &[b"$-1\r\n", b"$1\r\nk\r\n"],
            &[],
            0,
        );
        assert_eq!(&m[..], b"$1\r\nk\r\n");
    }
}
