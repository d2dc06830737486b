//! The one question the broker asks proxies: `UMCTL GETEPOCH` (epoch recovery and auto
//! scaling), over `control`'s blocking RESP client, always with timeouts.

use control::client::resp::{call_once, Value};
use std::io;
use std::time::Duration;

/// Asks `addr` for its epoch.
///
/// ```text
/// > *2\r\n$5\r\nUMCTL\r\n$8\r\nGETEPOCH\r\n
/// < :<epoch>\r\n
/// ```
///
/// # Errors
/// Connect/read/write failure or timeout, or a reply that is not an integer.
pub fn get_epoch(addr: &str, timeout: Duration) -> io::Result<u64> {
    match call_once(addr, &["UMCTL", "GETEPOCH"], timeout)? {
        Value::Int(n) => u64::try_from(n).map_err(|_| bad("negative epoch")),
        _ => Err(bad("reply is not an integer")),
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn reads_an_integer_reply_and_refuses_others() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let t = std::thread::spawn(move || {
            for reply in [&b":42\r\n"[..], &b"-ERR x\r\n"[..]] {
                let (mut s, _) = l.accept().unwrap();
                let mut buf = [0u8; 64];
                let _ = s.read(&mut buf).unwrap();
                s.write_all(reply).unwrap();
            }
        });
        assert_eq!(get_epoch(&addr, Duration::from_secs(1)).unwrap(), 42);
        assert!(get_epoch(&addr, Duration::from_secs(1)).is_err());
        t.join().unwrap();
    }
}
