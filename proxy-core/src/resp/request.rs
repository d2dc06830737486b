//! Client requests: `*<n>\r\n` followed by `n` bulk strings, or an inline line
//! (`SET a 1\n`, what telnet and `redis-cli` in some modes send).
//!
//! The parser returns offsets into the caller's buffer; the caller splits the frame off as
//! `Bytes` and forwards it untouched. It never reserves memory for a count the client sent.

use super::line::{header, show};
use super::{Limits, ProtocolError};
use bytes::Bytes;
use smallvec::SmallVec;

/// Argument byte ranges within a frame. why: 6 inline covers GET/SET/HSET without a heap
/// allocation; longer commands spill.
pub type ArgRanges = SmallVec<[(usize, usize); 6]>;

/// One complete request found at the start of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Bytes the request occupies.
    pub len: usize,
    /// `(start, end)` of each argument, relative to the start of the buffer.
    pub args: ArgRanges,
    /// It was an inline line, so its bytes are not RESP and must be re-encoded to forward.
    pub inline: bool,
}

/// A request split off the read buffer.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request's bytes as received.
    pub frame: Bytes,
    args: ArgRanges,
    inline: bool,
}

impl Request {
    /// Wraps a frame and its parsed argument ranges.
    pub fn new(frame: Bytes, parsed: Parsed) -> Self {
        Self {
            frame,
            args: parsed.args,
            inline: parsed.inline,
        }
    }

    /// Number of arguments, command name included.
    pub fn len(&self) -> usize {
        self.args.len()
    }

    /// True for an empty request (blank inline line).
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// Argument `i` (0 is the command name).
    pub fn arg(&self, i: usize) -> Option<&[u8]> {
        let &(s, e) = self.args.get(i)?;
        self.frame.get(s..e)
    }

    /// All arguments.
    pub fn args(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.args
            .iter()
            .map(|&(s, e)| self.frame.get(s..e).unwrap_or_default())
    }

    /// The bytes to send a backend: the original frame, or the RESP form of an inline line.
    pub fn wire_bytes(&self) -> Bytes {
        if !self.inline {
            return self.frame.clone();
        }
        let mut out = Vec::with_capacity(self.frame.len() + 16 * self.args.len());
        super::compose::array_header(&mut out, self.args.len());
        for a in self.args() {
            super::compose::bulk(&mut out, a);
        }
        Bytes::from(out)
    }
}

/// Parses one request at the start of `buf`.
///
/// `Ok(None)`: incomplete, read more. A blank inline line gives a [`Parsed`] with no
/// arguments, which the caller skips (as Redis does).
///
/// # Errors
/// [`ProtocolError`] when the bytes cannot be a request; the connection must then close.
pub fn parse(buf: &[u8], lim: &Limits) -> Result<Option<Parsed>, ProtocolError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => parse_multibulk(buf, lim),
        Some(_) => parse_inline(buf, lim),
    }
}

fn parse_multibulk(buf: &[u8], lim: &Limits) -> Result<Option<Parsed>, ProtocolError> {
    let Some((n, mut pos)) = header(buf, 0, "multibulk")? else {
        return Ok(None);
    };
    if n > 0 && n as u64 > lim.max_array_len {
        // why: Redis' words for a length out of range.
        return Err(ProtocolError::BadLength("multibulk"));
    }
    let mut args = ArgRanges::new();
    for _ in 0..n.max(0) {
        match buf.get(pos) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(&b) => {
                return Err(ProtocolError::UnexpectedByte {
                    expected: '$',
                    got: show(b),
                })
            }
        }
        let Some((len, start)) = header(buf, pos, "bulk")? else {
            return Ok(None);
        };
        if len < 0 {
            return Err(ProtocolError::BadLength("bulk"));
        }
        if len as u64 > lim.max_bulk_len {
            return Err(ProtocolError::BadLength("bulk"));
        }
        let end = start + len as usize;
        if buf.len() < end + 2 {
            return Ok(None);
        }
        if buf.get(end..end + 2) != Some(b"\r\n") {
            return Err(ProtocolError::MissingCrlf);
        }
        args.push((start, end));
        pos = end + 2;
    }
    Ok(Some(Parsed {
        len: pos,
        args,
        inline: false,
    }))
}

fn parse_inline(buf: &[u8], lim: &Limits) -> Result<Option<Parsed>, ProtocolError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > lim.max_inline_len {
            return Err(ProtocolError::InlineTooBig);
        }
        return Ok(None);
    };
    if nl > lim.max_inline_len {
        return Err(ProtocolError::InlineTooBig);
    }
    let line_end = if nl > 0 && buf.get(nl - 1) == Some(&b'\r') {
        nl - 1
    } else {
        nl
    };
    let line = buf.get(..line_end).unwrap_or_default();
    let mut args = ArgRanges::new();
    let mut i = 0;
    while i < line.len() {
        match line.get(i) {
            Some(b' ' | b'\t') => i += 1,
            Some(&q @ (b'"' | b'\'')) => {
                let rest = line.get(i + 1..).unwrap_or_default();
                let close = memchr::memchr(q, rest).ok_or(ProtocolError::UnbalancedQuotes)?;
                args.push((i + 1, i + 1 + close));
                i += close + 2;
                // why: Redis requires a space after a closing quote (`"a"b` is unbalanced).
                if line.get(i).is_some_and(|b| !matches!(b, b' ' | b'\t')) {
                    return Err(ProtocolError::UnbalancedQuotes);
                }
            }
            Some(_) => {
                let start = i;
                while line.get(i).is_some_and(|b| !matches!(b, b' ' | b'\t')) {
                    i += 1;
                }
                args.push((start, i));
            }
            None => break,
        }
    }
    Ok(Some(Parsed {
        len: nl + 1,
        args,
        inline: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn args_of(buf: &[u8]) -> Vec<Vec<u8>> {
        let p = parse(buf, &Limits::REQUEST).unwrap().unwrap();
        p.args.iter().map(|&(s, e)| buf[s..e].to_vec()).collect()
    }

    #[test]
    fn multibulk() {
        let buf = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\nrest";
        let p = parse(buf, &Limits::REQUEST).unwrap().unwrap();
        assert_eq!(p.len, buf.len() - 4);
        assert_eq!(args_of(buf), vec![b"GET".to_vec(), b"a".to_vec()]);
        assert!(!p.inline);
    }

    #[test]
    fn incomplete_is_none_at_every_cut() {
        let buf = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n";
        for cut in 0..buf.len() {
            assert_eq!(parse(&buf[..cut], &Limits::REQUEST), Ok(None), "cut {cut}");
        }
    }

    #[test]
    fn inline() {
        assert_eq!(
            args_of(b"set  a \"b c\"\r\n"),
            vec![b"set".to_vec(), b"a".to_vec(), b"b c".to_vec()]
        );
        assert_eq!(args_of(b"PING\n"), vec![b"PING".to_vec()]);
        assert!(args_of(b"\r\n").is_empty());
        assert_eq!(
            parse(b"set a \"b\n", &Limits::REQUEST),
            Err(ProtocolError::UnbalancedQuotes)
        );
    }

    #[test]
    fn hostile_lengths_fail_without_allocating() {
        let lim = Limits::REQUEST;
        assert_eq!(
            parse(b"*1000000000\r\n", &lim),
            Err(ProtocolError::BadLength("multibulk"))
        );
        assert_eq!(
            parse(b"*1\r\n$1099511627776\r\n", &lim),
            Err(ProtocolError::BadLength("bulk"))
        );
        assert!(parse(b"*1\r\n$-5\r\n", &lim).is_err());
        assert!(parse(b"*1\r\n+OK\r\n", &lim).is_err());
        assert!(parse(b"*1\r\n$1\r\nab\r\n", &lim).is_err());
        assert!(parse(b"*x\r\n", &lim).is_err());
        assert!(parse(b"*1\n", &lim).is_err());
        assert!(parse(&vec![b'a'; 70_000], &lim).is_err());
    }

    #[test]
    fn inline_requests_are_re_encoded_for_backends() {
        let buf = b"get a\r\n";
        let p = parse(buf, &Limits::REQUEST).unwrap().unwrap();
        let r = Request::new(Bytes::from_static(buf), p);
        assert_eq!(&r.wire_bytes()[..], b"*2\r\n$3\r\nget\r\n$1\r\na\r\n");
    }

    fn parse_all(chunks: &[&[u8]]) -> Vec<Vec<Vec<u8>>> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            while let Some(p) = parse(&buf, &Limits::REQUEST).unwrap() {
                out.push(p.args.iter().map(|&(s, e)| buf[s..e].to_vec()).collect());
                buf.drain(..p.len);
            }
        }
        out
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_frames(
            cmds in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..5), 1..6),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut stream = Vec::new();
            for c in &cmds {
                crate::resp::compose::array_header(&mut stream, c.len());
                for a in c {
                    crate::resp::compose::bulk(&mut stream, a);
                }
            }
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points {
                chunks.push(&stream[last..p]);
                last = p;
            }
            chunks.push(&stream[last..]);
            prop_assert_eq!(parse_all(&chunks), cmds.clone());
            prop_assert_eq!(parse_all(&[&stream]), cmds);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes, &Limits::REQUEST);
        }
    }
}
