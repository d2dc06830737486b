//! The COMPRESS form of SETCLUSTER: `base64(gzip(json))` (spec 2.11).
//!
//! A big cluster's metadata does not fit comfortably in one command line; the original
//! compresses it. The decoder caps the inflated size so a small payload cannot expand into
//! gigabytes (a "gzip bomb") inside the proxy.

use base64::Engine;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::io::{Read, Write};

/// Largest inflated JSON accepted. why: real metadata for thousands of nodes is a few MiB.
pub const MAX_INFLATED_LEN: u64 = 64 * 1024 * 1024;

/// Decodes base64 then gunzips, refusing outputs over [`MAX_INFLATED_LEN`].
pub fn unpack(payload: &[u8]) -> Option<Vec<u8>> {
    let gz = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .ok()?;
    let mut out = Vec::new();
    GzDecoder::new(gz.as_slice())
        .take(MAX_INFLATED_LEN + 1)
        .read_to_end(&mut out)
        .ok()?;
    if out.len() as u64 > MAX_INFLATED_LEN {
        return None;
    }
    Some(out)
}

/// Gzips then base64-encodes.
pub fn pack(json: &[u8]) -> String {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    // why: writing to a Vec cannot fail; fall back to an empty payload rather than panic.
    let gz = enc
        .write_all(json)
        .and_then(|()| enc.finish())
        .unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(gz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let p = pack(b"{\"a\":1}");
        assert_eq!(unpack(p.as_bytes()).unwrap(), b"{\"a\":1}");
        assert!(unpack(b"!!!").is_none());
        assert!(unpack(b"aGVsbG8=").is_none());
    }

    #[test]
    fn bombs_are_refused() {
        let big = vec![b'a'; (MAX_INFLATED_LEN + 10) as usize];
        let p = pack(&big);
        assert!(p.len() < 1024 * 1024);
        assert!(unpack(p.as_bytes()).is_none());
    }
}
