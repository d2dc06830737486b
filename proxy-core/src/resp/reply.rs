//! Backend replies: find where one complete RESP2 or RESP3 value ends so it can be forwarded as the
//! backend's own bytes, without building a tree.
//!
//! Iterative (an explicit stack of "elements still expected"), so nesting costs no recursion
//! and is capped by [`Limits::max_depth`].

use super::line::{find_crlf, header, show};
use super::{Limits, ProtocolError};
use smallvec::SmallVec;

/// Length of the complete value at the start of `buf`, or `Ok(None)` if it is not all here.
///
/// # Errors
/// [`ProtocolError`] if the bytes are not RESP2.
pub fn scan(buf: &[u8], lim: &Limits) -> Result<Option<usize>, ProtocolError> {
    // Elements still expected by each open array, innermost last.
    let mut open: SmallVec<[u64; 8]> = SmallVec::new();
    let mut pos = 0;
    loop {
        let Some(&ty) = buf.get(pos) else {
            return Ok(None);
        };
        match ty {
            // Line types: RESP2 simple/error/integer; RESP3 null, double, boolean, big number.
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
                let Some(end) = find_crlf(buf, pos + 1, usize::MAX)? else {
                    return Ok(None);
                };
                pos = end + 2;
            }
            // Length-prefixed: bulk string; RESP3 blob error and verbatim string.
            b'$' | b'!' | b'=' => {
                let Some((len, start)) = header(buf, pos, "bulk")? else {
                    return Ok(None);
                };
                pos = match len {
                    -1 => start,
                    l if l < 0 => return Err(ProtocolError::BadLength("bulk")),
                    l if l as u64 > lim.max_bulk_len => return Err(ProtocolError::TooBig("bulk")),
                    l => {
                        let end = start + l as usize;
                        if buf.len() < end + 2 {
                            return Ok(None);
                        }
                        if buf.get(end..end + 2) != Some(b"\r\n") {
                            return Err(ProtocolError::MissingCrlf);
                        }
                        end + 2
                    }
                };
            }
            // Aggregates: array; RESP3 set and push (n values), map (n pairs), attribute (n
            // pairs followed by the value they describe, counted as one more element).
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let Some((n, next)) = header(buf, pos, "multibulk")? else {
                    return Ok(None);
                };
                pos = next;
                let n = match ty {
                    b'%' => n.saturating_mul(2),
                    b'|' => n.max(0).saturating_mul(2).saturating_add(1),
                    _ => n,
                };
                if n > 0 {
                    if n as u64 > lim.max_array_len {
                        return Err(ProtocolError::TooBig("multibulk"));
                    }
                    if open.len() >= lim.max_depth {
                        return Err(ProtocolError::TooDeep);
                    }
                    open.push(n as u64);
                    continue;
                }
            }
            other => {
                return Err(ProtocolError::UnexpectedByte {
                    expected: '*',
                    got: show(other),
                })
            }
        }
        // One value finished: close every array it completes.
        loop {
            match open.last_mut() {
                None => return Ok(Some(pos)),
                Some(left) => {
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                    open.pop();
                }
            }
        }
    }
}

/// The top-level elements of a complete array reply as `(start, end)` ranges, or `None` if
/// `buf` is not one complete array.
pub fn array_elements(buf: &[u8], lim: &Limits) -> Option<Vec<(usize, usize)>> {
    if buf.first() != Some(&b'*') {
        return None;
    }
    let (n, mut pos) = header(buf, 0, "multibulk").ok()??;
    let mut out = Vec::new();
    for _ in 0..n.max(0) {
        let len = scan(buf.get(pos..)?, lim).ok()??;
        out.push((pos, pos + len));
        pos += len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn values() {
        let l = Limits::REPLY;
        assert_eq!(scan(b"+OK\r\nx", &l), Ok(Some(5)));
        assert_eq!(scan(b"-ERR x\r\n", &l), Ok(Some(8)));
        assert_eq!(scan(b":12\r\n", &l), Ok(Some(5)));
        assert_eq!(scan(b"$-1\r\n", &l), Ok(Some(5)));
        assert_eq!(scan(b"$3\r\nabc\r\n", &l), Ok(Some(9)));
        assert_eq!(scan(b"*-1\r\n", &l), Ok(Some(5)));
        assert_eq!(scan(b"*0\r\n", &l), Ok(Some(4)));
        let nested = b"*2\r\n*2\r\n:1\r\n$1\r\na\r\n*0\r\n+x\r\n";
        assert_eq!(scan(nested, &l), Ok(Some(nested.len() - 4)));
        for cut in 0..nested.len() - 4 {
            assert_eq!(scan(&nested[..cut], &l), Ok(None));
        }
    }

    #[test]
    fn resp3_values() {
        let l = Limits::REPLY;
        for v in [
            &b"_\r\n"[..],
            b",1.5\r\n",
            b"#t\r\n",
            b"(123\r\n",
            b"!3\r\nerr\r\n",
            b"=7\r\ntxt:abc\r\n",
            b"%1\r\n+a\r\n:1\r\n",
            b"~2\r\n:1\r\n:2\r\n",
            b">2\r\n+a\r\n+b\r\n",
            b"|1\r\n+k\r\n+v\r\n:5\r\n",
            b"%0\r\n",
        ] {
            assert_eq!(scan(v, &l), Ok(Some(v.len())), "{v:?}");
            for cut in 0..v.len() {
                assert_eq!(scan(&v[..cut], &l), Ok(None));
            }
        }
    }

    #[test]
    fn deep_script_replies_pass() {
        // A Lua table that contains itself: Redis nests ~8000 levels, then an error.
        let mut v = b"*1\r\n".repeat(7995);
        v.extend_from_slice(b"-ERR reached lua stack limit\r\n");
        assert_eq!(scan(&v, &Limits::REPLY), Ok(Some(v.len())));
    }

    #[test]
    fn limits() {
        let l = Limits {
            max_depth: 2,
            ..Limits::REPLY
        };
        assert_eq!(
            scan(b"*1\r\n*1\r\n*1\r\n:1\r\n", &l),
            Err(ProtocolError::TooDeep)
        );
        assert!(scan(b"$1099511627776\r\n", &l).is_err());
        assert!(scan(b"?\r\n", &l).is_err());
    }

    #[test]
    fn elements() {
        let buf = b"*3\r\n$3\r\nget\r\n*1\r\n:2\r\n+x\r\n";
        let e = array_elements(buf, &Limits::REPLY).unwrap();
        assert_eq!(e, vec![(4, 13), (13, 21), (21, 25)]);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = scan(&bytes, &Limits::REPLY);
        }
    }
}
