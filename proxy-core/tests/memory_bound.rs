//! The proxy's memory stays bounded while 100 clients misbehave: 90 pipeline GETs of a 4 KiB
//! value and never read a reply, 10 send a huge bulk a little at a time. Meanwhile a
//! well-behaved client keeps getting answers, and the proxy's peak RSS (`VmHWM`) stays under
//! [`RSS_BOUND`].
//!
//! The caps are lowered so the test is small: `client_max_pending_replies = 64`,
//! `client_output_buffer_limit = 256 KiB`, `client_query_buffer_limit = 1 MiB`. The 90
//! readers-that-never-read ask for 90 × 2000 × 4 KiB ≈ 700 MiB of replies; a proxy that
//! buffered them (or even just 1024 replies each, the default pending cap) would pass the bound
//! many times over.
// why: test code: a failing unwrap is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod support;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

/// Stated bound on the proxy's peak resident memory. why: the idle proxy is ~10 MiB; each
/// misbehaving client may hold at most its 64 replies in flight plus 256 KiB ready (≈ 0.5 MiB),
/// and a slow-bulk client at most 1 MiB of query buffer, so 100 clients stay well under this.
const RSS_BOUND_KIB: u64 = 128 * 1024;
const VALUE_LEN: usize = 4096;
const PIPELINED: usize = 2000;
const NEVER_READ: usize = 90;
const SLOW_BULK: usize = 10;

fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn info_field(c: &mut Client, name: &str) -> u64 {
    let info = c.cmd(&["INFO"]).text();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO has no {name}: {info}"))
}

#[test]
fn hostile_clients_do_not_grow_memory_and_others_are_served() {
    let redis = redis();
    let proxy = proxy_with(&[
        ("UNDERMOON_CLIENT_MAX_PENDING_REPLIES", "64"),
        ("UNDERMOON_CLIENT_OUTPUT_BUFFER_LIMIT", "262144"),
        ("UNDERMOON_CLIENT_QUERY_BUFFER_LIMIT", "1048576"),
    ]);
    setcluster(
        &proxy,
        &format!("v2 1 NOFLAG mydb {} 1 0-16383", redis.addr()),
    );
    let mut good = Client::connect(proxy.port);
    let value = "v".repeat(VALUE_LEN);
    assert_eq!(good.cmd(&["SET", "big", &value]), Value::ok());
    let pid = proxy.child.id();
    let rss_before = status_kib(pid, "VmRSS:");

    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let pipeline: Vec<u8> = (0..PIPELINED)
        .flat_map(|_| Client::encode(&["GET", "big"]))
        .collect();
    let pipeline = Arc::new(pipeline);
    for _ in 0..NEVER_READ {
        let (stop, pipeline, port) = (stop.clone(), pipeline.clone(), proxy.port);
        threads.push(std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
            // The write may only partly go through once the proxy stops reading: that is the
            // back-pressure; the thread just keeps the connection open without reading.
            let _ = s.write_all(&pipeline);
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            None::<String>
        }));
    }
    for _ in 0..SLOW_BULK {
        let (stop, port) = (stop.clone(), proxy.port);
        threads.push(std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
            // A 64 MiB SET value, 64 KiB every 20 ms: past the 1 MiB query buffer limit in
            // about a third of a second.
            s.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nhuge\r\n$67108864\r\n")
                .unwrap();
            let chunk = vec![b'x'; 64 * 1024];
            let mut got = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if s.write_all(&chunk).is_err() {
                    break;
                }
                let mut b = [0u8; 256];
                match s.read(&mut b) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&b[..n]),
                    Err(_) => {}
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let mut b = [0u8; 256];
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            while let Ok(n) = s.read(&mut b) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&b[..n]);
            }
            Some(String::from_utf8_lossy(&got).into_owned())
        }));
    }

    // The well-behaved client keeps working while the others misbehave.
    let start = Instant::now();
    let mut answered = 0;
    let mut peak = 0;
    while start.elapsed() < Duration::from_secs(6) {
        let t = Instant::now();
        assert_eq!(good.cmd(&["SET", "k", "1"]), Value::ok());
        assert_eq!(good.cmd(&["GET", "k"]), Value::bulk("1"));
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "a well-behaved client waited {:?}",
            t.elapsed()
        );
        answered += 1;
        peak = peak.max(status_kib(pid, "VmRSS:"));
        std::thread::sleep(Duration::from_millis(20));
    }
    let pauses = info_field(&mut good, "proxy_client_pauses");
    let closes = info_field(&mut good, "proxy_query_buffer_closes");
    let open = info_field(&mut good, "proxy_connected_clients");
    let hwm = status_kib(pid, "VmHWM:");
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Option<String>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    eprintln!(
        "memory_bound: RSS before {rss_before} KiB, peak sampled {peak} KiB, VmHWM {hwm} KiB \
         (bound {RSS_BOUND_KIB} KiB); {answered} round trips; {pauses} pauses; {closes} closes"
    );
    assert!(answered >= 20, "only {answered} round trips in 6 s");
    assert!(
        hwm < RSS_BOUND_KIB,
        "proxy peak RSS {hwm} KiB over the {RSS_BOUND_KIB} KiB bound"
    );
    assert!(
        pauses >= NEVER_READ as u64,
        "only {pauses} back-pressure pauses"
    );
    assert_eq!(closes, SLOW_BULK as u64, "query buffer closes");
    assert!(
        open > NEVER_READ as u64,
        "never-reading clients stay connected: {open}"
    );
    for got in outcomes.into_iter().flatten() {
        assert!(
            got.starts_with("-ERR Protocol error: request too big"),
            "slow bulk client got {got:?}"
        );
    }
    // After they are gone, the proxy is still fine.
    assert_eq!(good.cmd(&["GET", "big"]), Value::bulk(&value));
}
