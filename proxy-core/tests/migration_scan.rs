//! The migration scanner against two real Redis servers: every key of the migrating ranges,
//! of every type and with its TTL, ends on the destination and leaves the source; keys of
//! other ranges are untouched; a key the destination already has is not overwritten.
// why: helpers of a test; a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod support;
use control::client::resp::{Conn, Value};
use control::model::RangeList;
use proxy_core::migration::scan::{move_ranges, ScanConfig};
use proxy_core::slot::key_slot;
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(20);

fn call(c: &mut Conn, args: &[&[u8]]) -> Value {
    c.call(args).unwrap()
}

/// Type-specific full read of a key, comparable across servers.
fn read(c: &mut Conn, k: &[u8]) -> Value {
    let ty = call(c, &[b"TYPE", k]).text();
    let v = match ty.as_str() {
        "string" => call(c, &[b"GET", k]),
        "hash" => call(c, &[b"HGETALL", k]),
        "list" => call(c, &[b"LRANGE", k, b"0", b"-1"]),
        "set" => call(c, &[b"SORT", k, b"ALPHA"]),
        "zset" => call(c, &[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"]),
        "stream" => call(c, &[b"XRANGE", k, b"-", b"+"]),
        _ => Value::Nil,
    };
    Value::Array(vec![Value::Simple(ty), v])
}

fn fill(c: &mut Conn, prefix: &str, big: &[u8]) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    for i in 0..40 {
        let k = format!("{prefix}{i}");
        let kb = k.as_bytes();
        match i % 6 {
            0 => call(c, &[b"SET", kb, format!("v{i}").as_bytes()]),
            1 => call(c, &[b"HSET", kb, b"f1", b"a", b"f2", b"b"]),
            2 => call(c, &[b"RPUSH", kb, b"x", b"y", b"z"]),
            3 => call(c, &[b"SADD", kb, b"m1", b"m2"]),
            4 => call(c, &[b"ZADD", kb, b"1.5", b"a", b"2", b"b"]),
            _ => call(c, &[b"XADD", kb, b"*", b"f", b"v"]),
        };
        if i % 4 == 0 {
            call(c, &[b"PEXPIRE", kb, b"600000"]);
        }
        keys.push(kb.to_vec());
    }
    let big_key = format!("{prefix}big").into_bytes();
    call(c, &[b"SET", &big_key, big, b"PX", b"900000"]);
    keys.push(big_key);
    keys
}

#[test]
fn moves_every_key_of_the_ranges_with_its_ttl() {
    let (src_p, dst_p) = (redis(), redis());
    let mut src = Conn::connect(&src_p.addr(), T).unwrap();
    let mut dst = Conn::connect(&dst_p.addr(), T).unwrap();
    let big: Vec<u8> = (0..10 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let keys = fill(&mut src, "k", &big);
    let ranges = RangeList::from_pairs([(0, 8191)]).unwrap();
    let (moving, staying): (Vec<_>, Vec<_>) =
        keys.into_iter().partition(|k| ranges.contains(key_slot(k)));
    assert!(moving.len() > 5 && staying.len() > 5, "both halves used");
    let before: Vec<(Value, i64)> = moving
        .iter()
        .map(|k| {
            let Value::Int(ttl) = call(&mut src, &[b"PTTL", k]) else {
                panic!()
            };
            (read(&mut src, k), ttl)
        })
        .collect();
    let staying_before: Vec<Value> = staying.iter().map(|k| read(&mut src, k)).collect();

    // A key the destination already pulled (and wrote) must keep its newer value.
    let pulled = moving[0].clone();
    call(&mut dst, &[b"SET", &pulled, b"newer"]);
    let cfg = ScanConfig {
        scan_count: 4,
        scan_interval: Duration::from_micros(100),
        timeout: T,
    };
    let stats = move_ranges(&src_p.addr(), &dst_p.addr(), &ranges, &cfg, None, &|| false).unwrap();
    assert_eq!(
        stats.moved + stats.already_there,
        moving.len() as u64,
        "{stats:?}"
    );
    assert_eq!(stats.skipped, staying.len() as u64);
    assert_eq!(stats.already_there, 1, "{stats:?}");

    for (k, (value, ttl)) in moving.iter().zip(before) {
        assert_eq!(
            call(&mut src, &[b"EXISTS", k]),
            Value::Int(0),
            "left on source"
        );
        if *k == pulled {
            assert_eq!(call(&mut dst, &[b"GET", k]), Value::Bulk(b"newer".to_vec()));
            continue;
        }
        assert_eq!(
            read(&mut dst, k),
            value,
            "value of {}",
            String::from_utf8_lossy(k)
        );
        let Value::Int(now) = call(&mut dst, &[b"PTTL", k]) else {
            panic!()
        };
        if ttl < 0 {
            assert_eq!(now, -1, "no TTL on {}", String::from_utf8_lossy(k));
        } else {
            assert!(now > 0 && now <= ttl, "TTL {now} vs {ttl}");
        }
    }
    for (k, v) in staying.iter().zip(staying_before) {
        assert_eq!(read(&mut src, k), v);
        assert_eq!(call(&mut dst, &[b"EXISTS", k]), Value::Int(0));
    }
    // Nothing left to move: a second pass finds no key of the ranges.
    let again = move_ranges(&src_p.addr(), &dst_p.addr(), &ranges, &cfg, None, &|| false).unwrap();
    assert_eq!(again.moved + again.already_there + again.gone, 0);
}

#[test]
fn a_key_held_by_a_pull_is_moved_once_released() {
    use proxy_core::migration::locks::KeyLocks;
    use std::sync::Arc;
    let (src_p, dst_p) = (redis(), redis());
    let mut src = Conn::connect(&src_p.addr(), T).unwrap();
    let mut dst = Conn::connect(&dst_p.addr(), T).unwrap();
    for i in 0..50 {
        call(&mut src, &[b"SET", format!("h{i}").as_bytes(), b"v"]);
    }
    let ranges = RangeList::from_pairs([(0, 16383)]).unwrap();
    let locks = Arc::new(KeyLocks::default());
    let held = locks.try_lock(b"h7").unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(held);
    });
    let cfg = ScanConfig {
        scan_count: 8,
        scan_interval: Duration::ZERO,
        timeout: T,
    };
    let stats = move_ranges(
        &src_p.addr(),
        &dst_p.addr(),
        &ranges,
        &cfg,
        Some(&locks),
        &|| false,
    )
    .unwrap();
    release.join().unwrap();
    assert!(stats.busy >= 1, "{stats:?}");
    assert_eq!(stats.moved, 50, "{stats:?}");
    assert_eq!(call(&mut src, &[b"DBSIZE"]), Value::Int(0));
    assert_eq!(call(&mut dst, &[b"GET", b"h7"]), Value::Bulk(b"v".to_vec()));
}
