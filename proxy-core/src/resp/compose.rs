//! Writers for the replies the proxy makes itself. Everything else is passed through as the
//! backend's bytes. Numbers go through `itoa`, never `format!`.

/// `*<n>\r\n`
pub fn array_header(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    int_digits(out, n as i64);
    out.extend_from_slice(b"\r\n");
}

/// `$<len>\r\n<data>\r\n`
pub fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    out.push(b'$');
    int_digits(out, data.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// `:<n>\r\n`
pub fn integer(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    int_digits(out, n);
    out.extend_from_slice(b"\r\n");
}

/// `+<s>\r\n`; `s` must not contain CR or LF.
pub fn simple(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'+');
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

/// `-<s>\r\n`, with CR and LF in `s` replaced so an error can never break framing.
pub fn error(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'-');
    out.extend(
        s.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// `-MOVED <slot> <addr>\r\n`
pub fn moved(out: &mut Vec<u8>, slot: u16, addr: &str) {
    out.extend_from_slice(b"-MOVED ");
    int_digits(out, i64::from(slot));
    out.push(b' ');
    out.extend_from_slice(addr.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Decimal digits of `n`.
pub fn int_digits(out: &mut Vec<u8>, n: i64) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let mut o = Vec::new();
        array_header(&mut o, 2);
        bulk(&mut o, b"ab");
        integer(&mut o, -3);
        simple(&mut o, b"OK");
        error(&mut o, b"ERR x\r\ny");
        moved(&mut o, 3300, "127.0.0.1:7000");
        assert_eq!(
            o,
            b"*2\r\n$2\r\nab\r\n:-3\r\n+OK\r\n-ERR x  y\r\n-MOVED 3300 127.0.0.1:7000\r\n"
        );
    }
}
