//! Slot of a key: CRC16/XMODEM of its hash tag (or the whole key) mod 16384, exactly as Redis
//! Cluster computes it, so clients and the proxy agree on every key. It lives here, beside the
//! metadata model, so the data plane (`proxy_core::slot`, on its hot path) and the test
//! harness's cluster client share one definition.

/// CRC16/XMODEM lookup table, built at compile time.
const TABLE: [u16; 256] = build_table();

// why: runs at compile time with `i < 256`; an out-of-range index fails the build, never a request.
#[allow(clippy::indexing_slicing)]
const fn build_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
}

/// CRC16/XMODEM (poly 0x1021, init 0, no reflection).
pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &b| {
        let idx = usize::from(((crc >> 8) as u8) ^ b);
        (crc << 8) ^ TABLE.get(idx).copied().unwrap_or(0)
    })
}

/// The part of the key that is hashed: between the first `{` and the first `}` after it, if
/// non-empty; else the whole key.
fn hash_part(key: &[u8]) -> &[u8] {
    let Some(open) = memchr::memchr(b'{', key) else {
        return key;
    };
    let after = key.get(open + 1..).unwrap_or_default();
    match memchr::memchr(b'}', after) {
        Some(close) if close > 0 => after.get(..close).unwrap_or(key),
        _ => key,
    }
}

/// Slot (0..16384) of `key`.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_part(key)) & 0x3fff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(crc16(b"123456789"), 0x31c3);
        assert_eq!(key_slot(b"{user1000}.following"), 3443);
        assert_eq!(key_slot(b"a"), 15495);
        assert_eq!(key_slot(b"b"), 3300);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b""), 0);
    }

    #[test]
    fn hash_tags() {
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") & 0x3fff);
        assert_eq!(key_slot(b"foo{{bar}}"), crc16(b"{bar") & 0x3fff);
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"x{user1000}y"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"{abc"), crc16(b"{abc") & 0x3fff);
    }
}
