//! Hostile clients get an error or a close; the proxy keeps serving everyone else.
mod support;
use std::io::Write;
use support::*;

fn healthy(t: &TwoHalves, c: &mut Client) {
    assert_eq!(c.cmd(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(c.cmd(&["SET", "b", "still"]), Value::ok());
    assert_eq!(c.cmd(&["GET", "b"]), Value::bulk("still"));
    let mut fresh = Client::connect(t.a.port);
    assert_eq!(fresh.cmd(&["GET", "b"]), Value::bulk("still"));
}

fn assert_error_or_close(c: &mut Client) {
    match c.read() {
        Ok(Value::Error(e)) => {
            assert!(e.starts_with("ERR Protocol error"), "{e}");
            assert!(
                c.is_closed(),
                "connection must close after a protocol error"
            );
        }
        Ok(other) => assert!(
            matches!(other, Value::Error(_)),
            "expected an error, got {other:?}"
        ),
        Err(_) => {} // closed
    }
}

#[test]
fn huge_bulk_length_is_refused() {
    let t = two_halves();
    let mut other = Client::connect(t.a.port);
    let mut bad = Client::connect(t.a.port);
    bad.send_raw(b"*2\r\n$3\r\nGET\r\n$1099511627776\r\n")
        .unwrap();
    assert_error_or_close(&mut bad);
    healthy(&t, &mut other);
}

#[test]
fn billion_element_array_is_refused() {
    let t = two_halves();
    let mut other = Client::connect(t.a.port);
    let mut bad = Client::connect(t.a.port);
    bad.send_raw(b"*1000000000\r\n$3\r\nGET\r\n").unwrap();
    assert_error_or_close(&mut bad);
    healthy(&t, &mut other);
}

#[test]
fn random_bytes_get_errors_or_a_close() {
    let t = two_halves();
    let mut other = Client::connect(t.a.port);
    // A deterministic xorshift stream: reproducible, covers every byte value.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..20 {
        let mut bytes = Vec::new();
        for _ in 0..(4096 + round * 997) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.push(x as u8);
        }
        if round % 2 == 0 {
            bytes[0] = b'*';
        }
        let mut bad = Client::connect(t.a.port);
        let _ = bad.send_raw(&bytes);
        // Whatever it answers, the connection ends in an error reply or a close, never a hang
        // of the proxy: drain until closed or quiet.
        bad.set_read_timeout(std::time::Duration::from_millis(300));
        let _ = bad.is_closed();
    }
    // A stream that never ends a line nor a frame is capped (inline limit).
    let mut bad = Client::connect(t.a.port);
    let _ = bad.send_raw(&vec![b'x'; 100 * 1024]);
    assert_error_or_close(&mut bad);
    healthy(&t, &mut other);
}

#[test]
fn bad_framing_closes_only_that_connection() {
    let t = two_halves();
    let mut other = Client::connect(t.a.port);
    for bad_input in [
        &b"*1\r\n+OK\r\n"[..],
        b"*1\r\n$3\r\nGETX\r\n",
        b"*x\r\n",
        b"*1\n",
        b"*1\r\n$-7\r\n",
        b"*2\r\n$3\r\nGET\r\n*1\r\n$1\r\na\r\n",
    ] {
        let mut bad = Client::connect(t.a.port);
        bad.send_raw(bad_input).unwrap();
        assert_error_or_close(&mut bad);
    }
    healthy(&t, &mut other);
}

#[test]
fn inline_commands_and_quit() {
    let t = two_halves();
    let mut c = Client::connect(t.a.port);
    c.send_raw(b"PING\r\nset b \"two words\"\nget b\r\n\r\nQUIT\r\n")
        .unwrap();
    assert_eq!(c.read().unwrap(), Value::Simple("PONG".into()));
    assert_eq!(c.read().unwrap(), Value::ok());
    assert_eq!(c.read().unwrap(), Value::bulk("two words"));
    assert_eq!(c.read().unwrap(), Value::ok());
    assert!(c.is_closed());
    let mut w = std::net::TcpStream::connect(("127.0.0.1", t.a.port)).unwrap();
    w.write_all(b"ECHO hi\r\n").unwrap();
}
