//! The command table: for every command name, what the proxy does with it.
//!
//! Three outcomes: the proxy answers it ([`Kind::Proxy`]), it is a data command forwarded by
//! its keys ([`Kind::Data`]), or it is refused with a reason ([`Kind::Refused`]) because it has
//! no key to route by or would leave connection state (MULTI, SUBSCRIBE, blocking pops) on a
//! backend connection shared with other clients. Unknown names are `None`.

use super::keys::Keys;

/// Commands the proxy answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyCmd {
    /// `PING [msg]`
    Ping,
    /// `ECHO msg`
    Echo,
    /// `SELECT db` (only 0)
    Select,
    /// `QUIT`
    Quit,
    /// `ASKING`, `READONLY`, `READWRITE`: `+OK`.
    Ok,
    /// `CLUSTER <sub>`
    Cluster,
    /// `INFO [section]`
    Info,
    /// `CONFIG GET|SET`
    Config,
    /// `COMMAND [...]`
    Command,
    /// `UMCTL <sub>`
    Umctl,
    /// `SLOWLOG GET [n] | LEN | RESET`: the proxy's slow log, in Redis' shapes.
    Slowlog,
    /// `UMFORWARD <hops> <command...>`: a request forwarded by a peer (active redirection).
    Umforward,
    /// `UMPUBLISH <channel> <message>`: a PUBLISH fanned out by a peer, published here
    /// only ([`crate::session`] pubsub).
    Umpublish,
    /// `AUTH password`
    Auth,
    /// `HELLO [protover [AUTH user pass] [SETNAME name]]`
    Hello,
    /// `MULTI`
    Multi,
    /// `EXEC`
    Exec,
    /// `DISCARD`
    Discard,
    /// `WATCH key...`
    Watch,
    /// `UNWATCH`
    Unwatch,
    /// `CLIENT <sub>` (per-session answers)
    Client,
    /// `RESET`
    Reset,
    /// Commands that make the backend speak unasked (SUBSCRIBE family, MONITOR, SYNC):
    /// served on a relay connection of the session's own.
    Relay,
    /// Node-level keyless commands answered for this proxy's local backends together
    /// (DBSIZE, KEYS, SCAN, FLUSHALL, SCRIPT, FUNCTION, ...).
    Node,
    /// `WAIT numreplicas timeout`: on every local backend, for the session's earlier writes.
    Wait,
}

/// What a command is to the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Answered by the proxy.
    Proxy(ProxyCmd),
    /// Forwarded to the owner of its keys' slot.
    Data(Keys),
    /// Blocking: forwarded by its keys on a backend connection the session owns, so a
    /// shared connection is never parked.
    Blocking(Keys),
    /// Refused with this reason (`-ERR <reason>`).
    Refused(&'static str),
}

const K1: Kind = Kind::Data(Keys::Range {
    first: 1,
    last: 1,
    step: 1,
});
const K_ALL: Kind = Kind::Data(Keys::Range {
    first: 1,
    last: -1,
    step: 1,
});
const K_PAIRS: Kind = Kind::Data(Keys::Range {
    first: 1,
    last: -1,
    step: 2,
});
const K12: Kind = Kind::Data(Keys::Range {
    first: 1,
    last: 2,
    step: 1,
});
const K2: Kind = Kind::Data(Keys::Range {
    first: 2,
    last: 2,
    step: 1,
});
const K2_ALL: Kind = Kind::Data(Keys::Range {
    first: 2,
    last: -1,
    step: 1,
});
const K_NUM1: Kind = Kind::Data(Keys::NumKeys { at: 1, also: 0 });
const K_NUM2: Kind = Kind::Data(Keys::NumKeys { at: 2, also: 0 });
const K_NUM2_DEST: Kind = Kind::Data(Keys::NumKeys { at: 2, also: 1 });

const KEYLESS: Kind =
    Kind::Refused("command has no key to route by; not supported by the proxy yet");
/// BLPOP, BRPOP, BZPOPMIN, BZPOPMAX: keys then a timeout.
const B_KEYS_TIMEOUT: Kind = Kind::Blocking(Keys::Range {
    first: 1,
    last: -2,
    step: 1,
});
/// BRPOPLPUSH, BLMOVE: source and destination.
const B_TWO: Kind = Kind::Blocking(Keys::Range {
    first: 1,
    last: 2,
    step: 1,
});
/// BLMPOP, BZMPOP: timeout, numkeys, keys.
const B_NUM2: Kind = Kind::Blocking(Keys::NumKeys { at: 2, also: 0 });
const ADMIN: Kind =
    Kind::Refused("server administration commands are not available through the proxy");

/// Longest command name looked up. why: the longest Redis command name is under 32 bytes.
const MAX_NAME: usize = 32;

/// Looks a command name up, case-insensitively. `None`: unknown command.
pub fn lookup(name: &[u8]) -> Option<Kind> {
    let mut buf = [0u8; MAX_NAME];
    let lower = buf.get_mut(..name.len())?;
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    Some(match &*lower {
        b"ping" => Kind::Proxy(ProxyCmd::Ping),
        b"echo" => Kind::Proxy(ProxyCmd::Echo),
        b"select" => Kind::Proxy(ProxyCmd::Select),
        b"quit" => Kind::Proxy(ProxyCmd::Quit),
        b"asking" | b"readonly" | b"readwrite" => Kind::Proxy(ProxyCmd::Ok),
        b"cluster" => Kind::Proxy(ProxyCmd::Cluster),
        b"info" => Kind::Proxy(ProxyCmd::Info),
        b"config" => Kind::Proxy(ProxyCmd::Config),
        b"command" => Kind::Proxy(ProxyCmd::Command),
        b"umctl" => Kind::Proxy(ProxyCmd::Umctl),
        b"umforward" => Kind::Proxy(ProxyCmd::Umforward),
        b"umpublish" => Kind::Proxy(ProxyCmd::Umpublish),
        b"slowlog" => Kind::Proxy(ProxyCmd::Slowlog),
        b"auth" => Kind::Proxy(ProxyCmd::Auth),
        b"hello" => Kind::Proxy(ProxyCmd::Hello),
        b"multi" => Kind::Proxy(ProxyCmd::Multi),
        b"exec" => Kind::Proxy(ProxyCmd::Exec),
        b"discard" => Kind::Proxy(ProxyCmd::Discard),
        b"watch" => Kind::Proxy(ProxyCmd::Watch),
        b"unwatch" => Kind::Proxy(ProxyCmd::Unwatch),
        b"client" => Kind::Proxy(ProxyCmd::Client),
        b"reset" => Kind::Proxy(ProxyCmd::Reset),

        // Strings, hashes, lists, sets, zsets, HLL, geo, streams, generic: one key first.
        b"get" | b"set" | b"setnx" | b"setex" | b"psetex" | b"getset" | b"getdel" | b"getex"
        | b"append" | b"strlen" | b"incr" | b"decr" | b"incrby" | b"decrby" | b"incrbyfloat"
        | b"getrange" | b"setrange" | b"substr" | b"getbit" | b"setbit" | b"bitcount"
        | b"bitpos" | b"bitfield" | b"bitfield_ro" | b"lcs" => K1,
        b"hget" | b"hset" | b"hsetnx" | b"hmset" | b"hmget" | b"hdel" | b"hexists" | b"hlen"
        | b"hkeys" | b"hvals" | b"hgetall" | b"hincrby" | b"hincrbyfloat" | b"hstrlen"
        | b"hscan" | b"hrandfield" | b"hexpire" | b"hpexpire" | b"hexpireat" | b"hpexpireat"
        | b"httl" | b"hpttl" | b"hexpiretime" | b"hpexpiretime" | b"hpersist" | b"hgetdel"
        | b"hgetex" | b"hsetex" => K1,
        b"lpush" | b"rpush" | b"lpushx" | b"rpushx" | b"lpop" | b"rpop" | b"llen" | b"lindex"
        | b"linsert" | b"lrange" | b"lrem" | b"lset" | b"ltrim" | b"lpos" => K1,
        b"sadd" | b"srem" | b"scard" | b"sismember" | b"smismember" | b"smembers" | b"spop"
        | b"srandmember" | b"sscan" => K1,
        b"zadd" | b"zincrby" | b"zrem" | b"zcard" | b"zcount" | b"zlexcount" | b"zscore"
        | b"zmscore" | b"zrank" | b"zrevrank" | b"zrange" | b"zrangebyscore" | b"zrangebylex"
        | b"zrevrange" | b"zrevrangebyscore" | b"zrevrangebylex" | b"zremrangebyrank"
        | b"zremrangebyscore" | b"zremrangebylex" | b"zpopmin" | b"zpopmax" | b"zrandmember"
        | b"zscan" => K1,
        b"pfadd"
        | b"geoadd"
        | b"geodist"
        | b"geohash"
        | b"geopos"
        | b"georadius"
        | b"georadius_ro"
        | b"georadiusbymember"
        | b"georadiusbymember_ro"
        | b"geosearch" => K1,
        b"xadd" | b"xlen" | b"xrange" | b"xrevrange" | b"xdel" | b"xtrim" | b"xack" | b"xclaim"
        | b"xautoclaim" | b"xpending" | b"xsetid" => K1,
        b"expire" | b"pexpire" | b"expireat" | b"pexpireat" | b"expiretime" | b"pexpiretime"
        | b"ttl" | b"pttl" | b"persist" | b"type" | b"dump" | b"restore" | b"sort" | b"sort_ro" => {
            K1
        }

        // Several keys: the proxy forwards them only when they share one slot.
        b"mget" | b"del" | b"exists" | b"unlink" | b"touch" | b"sunion" | b"sinter" | b"sdiff"
        | b"pfcount" | b"pfmerge" | b"sunionstore" | b"sinterstore" | b"sdiffstore" => K_ALL,
        b"mset" | b"msetnx" => K_PAIRS,
        b"rename" | b"renamenx" | b"rpoplpush" | b"lmove" | b"smove" | b"copy"
        | b"geosearchstore" | b"zrangestore" => K12,
        b"bitop" => K2_ALL,
        b"object" | b"memory" | b"xinfo" | b"xgroup" => K2,
        b"zunionstore" | b"zinterstore" | b"zdiffstore" => K_NUM2_DEST,
        b"zunion" | b"zinter" | b"zdiff" | b"zintercard" | b"sintercard" | b"lmpop" | b"zmpop" => {
            K_NUM1
        }
        b"eval" | b"evalsha" | b"eval_ro" | b"evalsha_ro" | b"fcall" | b"fcall_ro" => K_NUM2,
        b"xread" | b"xreadgroup" => Kind::Data(Keys::Streams),

        b"keys" | b"scan" | b"dbsize" | b"randomkey" | b"flushall" | b"flushdb" | b"time"
        | b"lastsave" | b"script" | b"function" | b"debug" | b"save" | b"bgsave"
        | b"bgrewriteaof" | b"latency" | b"lolwut" | b"pfselftest" => Kind::Proxy(ProxyCmd::Node),
        b"pfdebug" => K2,
        b"publish" | b"pubsub" => Kind::Proxy(ProxyCmd::Node),
        b"spublish" => K1,
        b"wait" => Kind::Proxy(ProxyCmd::Wait),
        // why: WAITAOF is Redis 7.2; the 7.0 backends here would not know it either.
        b"waitaof" => KEYLESS,
        b"subscribe" | b"psubscribe" | b"ssubscribe" | b"unsubscribe" | b"punsubscribe"
        | b"sunsubscribe" | b"monitor" | b"sync" | b"psync" => Kind::Proxy(ProxyCmd::Relay),
        b"blpop" | b"brpop" | b"bzpopmin" | b"bzpopmax" => B_KEYS_TIMEOUT,
        b"brpoplpush" | b"blmove" => B_TWO,
        b"blmpop" | b"bzmpop" => B_NUM2,
        b"shutdown" | b"swapdb" | b"move" | b"migrate" | b"acl" | b"module" | b"failover"
        | b"replicaof" | b"slaveof" | b"replconf" | b"role" => ADMIN,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(lookup(b"GeT"), Some(K1));
        assert_eq!(lookup(b"PING"), Some(Kind::Proxy(ProxyCmd::Ping)));
        assert_eq!(lookup(b"keys"), Some(Kind::Proxy(ProxyCmd::Node)));
        assert_eq!(lookup(b"wait"), Some(Kind::Proxy(ProxyCmd::Wait)));
        assert_eq!(lookup(b"waitaof"), Some(KEYLESS));
        assert_eq!(lookup(b"subscribe"), Some(Kind::Proxy(ProxyCmd::Relay)));
        assert_eq!(lookup(b"blpop"), Some(B_KEYS_TIMEOUT));
        assert_eq!(lookup(b"nosuchcommand"), None);
        assert_eq!(lookup(&[b'a'; 100]), None);
        assert_eq!(lookup(b""), None);
        assert_eq!(lookup(b"object"), Some(K2));
        assert_eq!(lookup(b"eval"), Some(K_NUM2));
    }
}
