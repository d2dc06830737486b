//! Node ids as the original prints them (spec 1.5): the cluster name padded with `_` to 24
//! bytes, then the lower-case hex CRC-64/Jones of `host:port` without leading zeros, padded
//! with `_` to 16.

const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

// why: runs at compile time with `i < 256`; an out-of-range index fails the build, never a request.
#[allow(clippy::indexing_slicing)]
const fn build_table() -> [u64; 256] {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
}

const TABLE: [u64; 256] = build_table();

/// CRC-64/Jones as Redis computes it (reflected, init 0, no final xor).
pub fn crc64(data: &[u8]) -> u64 {
    data.iter().fold(0u64, |crc, &b| {
        let idx = usize::from((crc as u8) ^ b);
        TABLE.get(idx).copied().unwrap_or(0) ^ (crc >> 8)
    })
}

/// The 40-character node id of `addr` in cluster `name`.
pub fn node_id(name: &str, addr: &str) -> String {
    let mut id: String = name.chars().take(24).collect();
    while id.len() < 24 {
        id.push('_');
    }
    let hash = format!("{:x}", crc64(addr.as_bytes()));
    id.push_str(&hash);
    while id.len() < 40 {
        id.push('_');
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors() {
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        assert_eq!(
            node_id("mydb", "127.0.0.1:5299"),
            "mydb____________________9f8fca2805923328"
        );
        assert_eq!(
            node_id("mydb", "127.0.0.1:7000"),
            "mydb____________________d458dd9b55cc9ad9"
        );
        assert_eq!(
            node_id("mycluster", "127.0.0.1:6001"),
            "mycluster_______________2261c530e98070a6"
        );
        assert_eq!(
            node_id("mycluster", "server_proxy5:6005"),
            "mycluster_______________d71bc00fbdddf89_"
        );
        assert_eq!(node_id("", "a:1").len(), 40);
        assert_eq!(&node_id("", "a:1")[..24], "________________________");
    }
}
