//! String value compression (`compression_strategy`, spec 2.13, ours with lz4): pure
//! functions that compress the value arguments of SET-family requests and decompress the
//! bulk strings of GET-family replies.
//!
//! A compressed value is `MAGIC ++ u32 LE original length ++ lz4 block`. Anything without the
//! marker, or that does not decode to exactly that length, is returned as stored, so values
//! written before compression was turned on still read back (the original returned nil).
//! Values the original undermoon wrote are raw zstd frames; they are decoded too, so an operator
//! can swap binaries under a live cluster with compression on and read every value back.
//!
//! ```text
//!  SET k <1 KiB json>  ──►  SET k \xffUMZ<len><lz4>      GET k ──► $<len>\r\n<json>  (decoded)
//! ```

use crate::resp::request::Request;
use crate::resp::{compose, line, reply, Limits};
use bytes::Bytes;

/// Marker of a compressed value. why: starts with 0xFF, which is not valid UTF-8, so text and
/// JSON values never begin with it by accident.
pub const MAGIC: &[u8; 4] = b"\xffUMZ";
/// Smallest value compressed. why: below this lz4 rarely saves anything and the marker and
/// length (8 bytes) eat what it does.
pub const MIN_LEN: usize = 64;
/// Largest decoded value accepted. why: Redis' own string limit (512 MiB); a stored length
/// above it is not ours, and must not make the proxy allocate it.
const MAX_DECODED: usize = 512 * 1024 * 1024;
/// How deep a reply is searched for values (EXEC of MGET is depth 2).
const MAX_DEPTH: usize = 4;

/// The error the `set_get_only` strategy gives string commands that would see raw bytes.
pub const UNSUPPORTED: &[u8] = b"-unsupported string command when compression is enabled\r\n";

/// Compressed form of `v`, or `None` if it is short or does not shrink.
pub fn compress(v: &[u8]) -> Option<Vec<u8>> {
    if v.len() < MIN_LEN || v.len() > MAX_DECODED {
        return None;
    }
    let mut out = Vec::with_capacity(v.len() / 2 + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    out.extend_from_slice(&lz4_flex::block::compress(v));
    (out.len() < v.len()).then_some(out)
}

/// The magic number that starts a zstd frame (little-endian 0xFD2FB528).
const ZSTD_MAGIC: &[u8; 4] = b"\x28\xb5\x2f\xfd";

/// The original of a value [`compress`] (or the original undermoon's zstd) made, or `None`
/// if `v` is not one.
pub fn decompress(v: &[u8]) -> Option<Vec<u8>> {
    if v.starts_with(ZSTD_MAGIC) {
        return unzstd(v);
    }
    let rest = v.strip_prefix(MAGIC)?;
    let len_bytes: [u8; 4] = rest.get(..4)?.try_into().ok()?;
    let len = u32::from_le_bytes(len_bytes) as usize;
    let block = rest.get(4..)?;
    // why: lz4's best ratio is about 255:1; a bigger claim is not a value we wrote.
    if len > MAX_DECODED || len > block.len().saturating_mul(255) {
        return None;
    }
    let out = lz4_flex::block::decompress(block, len).ok()?;
    (out.len() == len).then_some(out)
}

/// Decodes one zstd frame, at most [`MAX_DECODED`] bytes. why: pure Rust (`ruzstd`), so a
/// crafted frame stored by a client is an `Err`, never undefined behaviour; the cap stops a
/// small "bomb" from making the proxy allocate without bound. A value that merely starts with
/// the magic but is not a frame is returned as stored.
fn unzstd(v: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut decoder = ruzstd::decoding::StreamingDecoder::new(v).ok()?;
    let mut out = Vec::new();
    let cap = u64::try_from(MAX_DECODED).ok()?.saturating_add(1);
    (&mut decoder).take(cap).read_to_end(&mut out).ok()?;
    let frame = decoder.into_frame_decoder();
    // why: the decoder does not check the frame's checksum itself; a value whose checksum
    // does not match is not one the original wrote.
    let checksum_ok = frame.get_checksum_from_data() == frame.get_calculated_checksum();
    (frame.is_finished() && checksum_ok && out.len() <= MAX_DECODED).then_some(out)
}

/// What compression does to a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Not a string value command.
    None,
    /// Values at argument `first`, `first + step`, ... (to the end if `step > 0`, else only
    /// `first`) are compressed; the reply may hold values (SET ... GET, GETSET).
    Write {
        /// First value index.
        first: usize,
        /// Distance between values, 0 for one value.
        step: usize,
    },
    /// The reply holds values to decode.
    Read,
    /// Would see compressed bytes: refused under `set_get_only`.
    Raw,
}

/// The effect of command `name` (lower-case compare).
pub fn effect(name: &[u8]) -> Effect {
    let mut buf = [0u8; 16];
    let Some(l) = buf.get_mut(..name.len()) else {
        return Effect::None;
    };
    for (d, s) in l.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    match &*l {
        b"set" | b"setnx" | b"getset" => Effect::Write { first: 2, step: 0 },
        b"setex" | b"psetex" => Effect::Write { first: 3, step: 0 },
        b"mset" | b"msetnx" => Effect::Write { first: 2, step: 2 },
        b"get" | b"getex" | b"getdel" | b"mget" | b"exec" => Effect::Read,
        b"append" | b"bitcount" | b"bitfield" | b"bitfield_ro" | b"bitop" | b"bitpos" | b"decr"
        | b"decrby" | b"getbit" | b"getrange" | b"substr" | b"incr" | b"incrby"
        | b"incrbyfloat" | b"setbit" | b"setrange" | b"strlen" | b"lcs" => Effect::Raw,
        _ => Effect::None,
    }
}

/// `req` with its values compressed, or `None` if nothing was worth compressing.
pub fn compress_request(req: &Request, first: usize, step: usize) -> Option<Bytes> {
    let is_value = |i: usize| {
        i >= first
            && (if step == 0 {
                i == first
            } else {
                (i - first).is_multiple_of(step)
            })
    };
    let mut any = false;
    let mut out = Vec::with_capacity(req.frame.len());
    compose::array_header(&mut out, req.len());
    for (i, a) in req.args().enumerate() {
        match is_value(i).then(|| compress(a)).flatten() {
            Some(c) => {
                any = true;
                compose::bulk(&mut out, &c);
            }
            None => compose::bulk(&mut out, a),
        }
    }
    any.then(|| Bytes::from(out))
}

/// `r` with every compressed bulk string (top level or inside arrays) decoded.
pub fn decode_reply(r: &[u8]) -> Bytes {
    let mut out = Vec::new();
    if decode_into(r, &mut out, 0) {
        Bytes::from(out)
    } else {
        Bytes::copy_from_slice(r)
    }
}

/// Appends the decoded form of `r` to `out`; false if nothing changed (caller copies).
fn decode_into(r: &[u8], out: &mut Vec<u8>, depth: usize) -> bool {
    match r.first() {
        Some(b'$') => {
            let payload = line::header(r, 0, "bulk")
                .ok()
                .flatten()
                .and_then(|(len, start)| r.get(start..start + usize::try_from(len).ok()?));
            match payload.and_then(decompress) {
                Some(v) => {
                    compose::bulk(out, &v);
                    true
                }
                None => {
                    out.extend_from_slice(r);
                    false
                }
            }
        }
        Some(b'*') if depth < MAX_DEPTH => {
            let Some(elems) = reply::array_elements(r, &Limits::REPLY) else {
                out.extend_from_slice(r);
                return false;
            };
            compose::array_header(out, elems.len());
            let mut changed = false;
            for (s, e) in elems {
                changed |= decode_into(r.get(s..e).unwrap_or_default(), out, depth + 1);
            }
            changed
        }
        _ => {
            out.extend_from_slice(r);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::request;

    fn req(line: &str) -> Request {
        let buf = Bytes::from(format!("{line}\r\n"));
        let p = request::parse(&buf, &Limits::REQUEST).unwrap().unwrap();
        Request::new(buf, p)
    }

    #[test]
    fn round_trip_and_raw_values() {
        let v = br#"{"user":"alice","items":[1,2,3],"note":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#;
        let c = compress(v).unwrap();
        assert!(c.starts_with(MAGIC) && c.len() < v.len());
        assert_eq!(decompress(&c).unwrap(), v);
        assert_eq!(compress(b"short"), None);
        assert_eq!(decompress(b"plain old value"), None);
        // A marker with a lying length or garbage is returned as stored.
        assert_eq!(decompress(b"\xffUMZ\xff\xff\xff\x7fxx"), None);
        assert_eq!(decompress(b"\xffUMZ\x05\x00\x00\x00zzzzzz"), None);
    }

    /// `zstd -1` (the CLI, same format as the original's zstd level 1) of
    /// `{"k":"undermoon"},` twelve times.
    const ORIGINAL_ZSTD: &[u8] = &[
        0x28, 0xb5, 0x2f, 0xfd, 0x24, 0xd8, 0xcd, 0x00, 0x00, 0x90, 0x7b, 0x22, 0x6b, 0x22, 0x3a,
        0x22, 0x75, 0x6e, 0x64, 0x65, 0x72, 0x6d, 0x6f, 0x6f, 0x6e, 0x22, 0x7d, 0x2c, 0x01, 0x00,
        0x86, 0x45, 0xcd, 0x30, 0xd4, 0xe6, 0xac, 0xfa,
    ];

    #[test]
    fn values_the_original_wrote_with_zstd_read_back() {
        let want = "{\"k\":\"undermoon\"},".repeat(12);
        assert_eq!(decompress(ORIGINAL_ZSTD).unwrap(), want.as_bytes());
        // Truncated or corrupted frames are not values we can decode: returned as stored.
        assert_eq!(decompress(&ORIGINAL_ZSTD[..20]), None);
        assert_eq!(decompress(b"\x28\xb5\x2f\xfd garbage"), None);
        let mut bad = ORIGINAL_ZSTD.to_vec();
        if let Some(b) = bad.last_mut() {
            *b ^= 0xff; // the frame's checksum
        }
        assert_eq!(decompress(&bad), None);
    }

    #[test]
    fn requests_and_replies() {
        let big = "x".repeat(200);
        let r = req(&format!("SET k {big} EX 10"));
        let out = compress_request(&r, 2, 0).unwrap();
        let p = request::parse(&out, &Limits::REQUEST).unwrap().unwrap();
        let r2 = Request::new(out.clone(), p);
        assert_eq!(r2.arg(1), Some(&b"k"[..]));
        assert_eq!(r2.arg(3), Some(&b"EX"[..]));
        let stored = r2.arg(2).unwrap();
        assert!(stored.starts_with(MAGIC));
        let mut bulk = Vec::new();
        compose::bulk(&mut bulk, stored);
        let mut expect = Vec::new();
        compose::bulk(&mut expect, big.as_bytes());
        assert_eq!(&decode_reply(&bulk)[..], &expect[..]);
        let mut arr = b"*2\r\n$-1\r\n".to_vec();
        arr.extend_from_slice(&bulk);
        let mut expect_arr = b"*2\r\n$-1\r\n".to_vec();
        expect_arr.extend_from_slice(&expect);
        assert_eq!(&decode_reply(&arr)[..], &expect_arr[..]);
        assert_eq!(&decode_reply(b"$3\r\nabc\r\n")[..], b"$3\r\nabc\r\n");
        assert_eq!(compress_request(&req("SET k v"), 2, 0), None);
        let m = req(&format!("MSET a {big} b small"));
        let out = compress_request(&m, 2, 2).unwrap();
        assert!(out.windows(7).any(|w| w == b"$5\r\nsma"));
        assert_eq!(effect(b"INCR"), Effect::Raw);
        assert_eq!(effect(b"mget"), Effect::Read);
    }
}
