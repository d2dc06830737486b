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
    if let Some(e) = first_error(parts) {
        return Bytes::copy_from_slice(e);
    }
    let mut out = Vec::new();
    match kind {
        MergeKind::Sum => {
            let mut sum: i64 = 0;
            for p in parts {
                let digits = p
                    .strip_prefix(b":")
                    .and_then(|d| d.strip_suffix(b"\r\n"))
                    .and_then(|d| crate::resp::line::parse_int(d, "integer").ok());
                match digits {
                    Some(n) => sum = sum.saturating_add(n),
                    None => return unexpected(),
                }
            }
            compose::integer(&mut out, sum);
        }
        MergeKind::AllOk => match parts.iter().find(|p| **p != b"+OK\r\n") {
            Some(p) => return Bytes::copy_from_slice(p),
            None => out.extend_from_slice(b"+OK\r\n"),
        },
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
    }
}
