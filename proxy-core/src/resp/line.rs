//! CRLF-terminated header lines: `<type><decimal>\r\n`, shared by requests and replies.

use super::ProtocolError;

/// Finds the CRLF that ends the line starting at `start`. `Ok(None)`: not all here yet.
/// A bare `\n` or a `\r` followed by anything else is a protocol error (strict CRLF).
pub fn find_crlf(buf: &[u8], start: usize, max: usize) -> Result<Option<usize>, ProtocolError> {
    let rest = buf.get(start..).unwrap_or_default();
    match memchr::memchr2(b'\r', b'\n', rest) {
        Some(i) => {
            if rest.get(i) != Some(&b'\r') {
                return Err(ProtocolError::MissingCrlf);
            }
            match rest.get(i + 1) {
                None => Ok(None),
                Some(b'\n') => Ok(Some(start + i)),
                Some(_) => Err(ProtocolError::MissingCrlf),
            }
        }
        None if rest.len() > max => Err(ProtocolError::BadLength("line")),
        None => Ok(None),
    }
}

/// Reads a signed decimal like `-1` or `123` (the number of a `*`/`$` header).
pub fn parse_int(digits: &[u8], what: &'static str) -> Result<i64, ProtocolError> {
    let (neg, body) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if body.is_empty() || body.len() > 18 {
        return Err(ProtocolError::BadLength(what));
    }
    let mut n: i64 = 0;
    for &d in body {
        if !d.is_ascii_digit() {
            return Err(ProtocolError::BadLength(what));
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Ok(if neg { -n } else { n })
}

/// A header `<type><n>\r\n` at `pos`: returns `(n, position after CRLF)`.
pub fn header(
    buf: &[u8],
    pos: usize,
    what: &'static str,
) -> Result<Option<(i64, usize)>, ProtocolError> {
    // why: 22 bytes hold any i64 header; longer is garbage, not "need more".
    let Some(end) = find_crlf(buf, pos + 1, 22)? else {
        return Ok(None);
    };
    let digits = buf.get(pos + 1..end).unwrap_or_default();
    Ok(Some((parse_int(digits, what)?, end + 2)))
}

/// Printable form of a byte for error messages.
pub fn show(b: u8) -> char {
    if b.is_ascii_graphic() {
        char::from(b)
    } else {
        '?'
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        assert_eq!(parse_int(b"123", "x"), Ok(123));
        assert_eq!(parse_int(b"-1", "x"), Ok(-1));
        assert!(parse_int(b"", "x").is_err());
        assert!(parse_int(b"1a", "x").is_err());
        assert!(parse_int(b"9999999999999999999", "x").is_err());
    }

    #[test]
    fn crlf_is_strict() {
        assert_eq!(find_crlf(b"ab\r\n", 0, 10), Ok(Some(2)));
        assert_eq!(find_crlf(b"ab\r", 0, 10), Ok(None));
        assert!(find_crlf(b"ab\n", 0, 10).is_err());
        assert!(find_crlf(b"ab\rx", 0, 10).is_err());
        assert!(find_crlf(b"abcdefghijkl", 0, 5).is_err());
    }
}
