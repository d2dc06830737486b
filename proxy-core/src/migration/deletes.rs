//! Which commands the destination may run on a freshly pulled key without asking the source
//! first (spec 3.3; danger window (c) of `docs/migration.md`).
//!
//! A command that can delete or empty a key must first `UMSYNC` the key through the source
//! proxy, so a scanner batch holding a stale copy cannot bring the key back after it is gone.
//! The spec lists the deleting commands; that list misses some (GETDEL, LMOVE, SINTERSTORE with
//! an empty result, ...), so this is an allow-list of commands that can never remove a key:
//! anything not on it, including commands added by future Redis versions, takes the safe path.
//!
//! Not used by the data path: our destination runs the scanner itself under the pulls' key
//! locks, so no command needs UMSYNC (`docs/migration.md`). Kept for serving UMSYNC, should a
//! mixed deployment with original proxies ever be supported.

/// Commands that never delete a key, nor empty it (an emptied aggregate is deleted by Redis).
/// why sorted: binary search on upper-case names.
const CANNOT_DELETE: &[&str] = &[
    "APPEND",
    "BITCOUNT",
    "BITPOS",
    "DECR",
    "DECRBY",
    "DUMP",
    "EXISTS",
    "GET",
    "GETBIT",
    "GETRANGE",
    "HEXISTS",
    "HGET",
    "HGETALL",
    "HINCRBY",
    "HINCRBYFLOAT",
    "HKEYS",
    "HLEN",
    "HMGET",
    "HMSET",
    "HRANDFIELD",
    "HSCAN",
    "HSET",
    "HSETNX",
    "HSTRLEN",
    "HVALS",
    "INCR",
    "INCRBY",
    "INCRBYFLOAT",
    "LINDEX",
    "LINSERT",
    "LLEN",
    "LPOS",
    "LPUSH",
    "LPUSHX",
    "LRANGE",
    "LSET",
    "MGET",
    "MSET",
    "PERSIST",
    "PFADD",
    "PFCOUNT",
    "PTTL",
    "RPUSH",
    "RPUSHX",
    "SADD",
    "SCARD",
    "SETBIT",
    "SETNX",
    "SETRANGE",
    "SISMEMBER",
    "SMEMBERS",
    "SMISMEMBER",
    "SRANDMEMBER",
    "SSCAN",
    "STRLEN",
    "SUBSTR",
    "TOUCH",
    "TTL",
    "TYPE",
    "XADD",
    "XLEN",
    "XRANGE",
    "XREVRANGE",
    "ZADD",
    "ZCARD",
    "ZCOUNT",
    "ZINCRBY",
    "ZLEXCOUNT",
    "ZMSCORE",
    "ZRANDMEMBER",
    "ZRANGE",
    "ZRANGEBYLEX",
    "ZRANGEBYSCORE",
    "ZRANK",
    "ZREVRANGE",
    "ZREVRANGEBYLEX",
    "ZREVRANGEBYSCORE",
    "ZREVRANK",
    "ZSCAN",
    "ZSCORE",
];

/// Longest name on the list; longer names are not on it.
const MAX_NAME: usize = 16;

/// True if `name` (any case) can never delete or empty a key, so the destination only needs
/// to pull a missing key before running it. SET, SETEX and GETEX are absent on purpose: with
/// an `EXAT`/`PXAT` in the past they remove the key at once.
pub fn cannot_delete(name: &[u8]) -> bool {
    if name.len() > MAX_NAME {
        return false;
    }
    let mut buf = [0u8; MAX_NAME];
    let Some(upper) = buf.get_mut(..name.len()) else {
        return false;
    };
    upper.copy_from_slice(name);
    upper.make_ascii_uppercase();
    let Ok(upper) = std::str::from_utf8(upper) else {
        return false;
    };
    CANNOT_DELETE.binary_search(&upper).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_and_fits() {
        assert!(CANNOT_DELETE.windows(2).all(|w| w[0] < w[1]));
        assert!(CANNOT_DELETE.iter().all(|n| n.len() <= MAX_NAME));
    }

    #[test]
    fn deleting_commands_take_the_safe_path() {
        for yes in ["get", "INCR", "hset", "xadd", "ZaDd", "mget"] {
            assert!(cannot_delete(yes.as_bytes()), "{yes}");
        }
        // The spec's list, plus the ones it misses.
        for no in [
            "DEL",
            "UNLINK",
            "EVAL",
            "EVALSHA",
            "EXPIRE",
            "PEXPIREAT",
            "HDEL",
            "LPOP",
            "RPOP",
            "RPOPLPUSH",
            "LREM",
            "LTRIM",
            "MOVE",
            "RENAME",
            "RENAMENX",
            "SMOVE",
            "SPOP",
            "SREM",
            "ZPOPMIN",
            "ZREM",
            "ZREMRANGEBYSCORE",
            "GETDEL",
            "GETEX",
            "LMOVE",
            "BLPOP",
            "SINTERSTORE",
            "ZUNIONSTORE",
            "SET",
            "SETEX",
            "XTRIM",
            "COPY",
            "RESTORE",
            "FCALL",
            "NOSUCHCOMMANDYET",
            "A_NAME_LONGER_THAN_SIXTEEN",
        ] {
            assert!(!cannot_delete(no.as_bytes()), "{no}");
        }
        assert!(!cannot_delete(b"\xff\xfe"));
        assert!(!cannot_delete(b""));
    }
}
