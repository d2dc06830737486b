//! RESP request parsing and backend reply scanning throughput (bytes/s), with the byte
//! count of each input as criterion `Throughput` so results read as GB/s.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use proxy_core::resp::{reply, request, Limits};

fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn parse_all(buf: &[u8]) -> usize {
    let mut pos = 0;
    let mut n = 0;
    while let Ok(Some(p)) = request::parse(buf.get(pos..).unwrap_or_default(), &Limits::REQUEST) {
        pos += p.len;
        n += 1;
    }
    n
}

fn bench_requests(c: &mut Criterion) {
    let mut g = c.benchmark_group("request_parse");
    let get = encode(&[b"GET", b"key:000000012345"]);
    let value = vec![b'x'; 1024];
    let set_1k = encode(&[b"SET", b"key:000000012345", &value]);
    let pipeline: Vec<u8> = (0..16).flat_map(|_| get.clone()).collect();
    let inline = b"GET key:000000012345\r\n".to_vec();
    for (name, buf) in [
        ("get", &get),
        ("set_1k", &set_1k),
        ("pipeline16_get", &pipeline),
        ("inline_get", &inline),
    ] {
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(name, |b| b.iter(|| parse_all(black_box(buf))));
    }
    g.finish();
}

fn bench_replies(c: &mut Criterion) {
    let mut g = c.benchmark_group("reply_scan");
    let bulk = {
        let mut v = b"$1024\r\n".to_vec();
        v.extend(std::iter::repeat_n(b'x', 1024));
        v.extend_from_slice(b"\r\n");
        v
    };
    let array = {
        let mut v = b"*100\r\n".to_vec();
        for i in 0..100 {
            v.extend_from_slice(format!("$6\r\nval{i:03}\r\n").as_bytes());
        }
        v
    };
    for (name, buf) in [
        ("ok", &b"+OK\r\n".to_vec()),
        ("bulk_1k", &bulk),
        ("array_100", &array),
    ] {
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| reply::scan(black_box(buf), &Limits::REPLY))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_requests, bench_replies);
criterion_main!(benches);
