//! A tiny blocking RESP client for the one question the broker asks proxies:
//! `UMCTL GETEPOCH` (epoch recovery and auto scaling), always with timeouts.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Longest reply line accepted; an epoch reply is `:<u64>\r\n`.
const MAX_LINE: usize = 64;

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
    let sock = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "address did not resolve"))?;
    let mut stream = TcpStream::connect_timeout(&sock, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(b"*2\r\n$5\r\nUMCTL\r\n$8\r\nGETEPOCH\r\n")?;
    let mut line = Vec::with_capacity(MAX_LINE);
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if line.len() >= MAX_LINE {
            return Err(bad("reply line too long"));
        }
        if stream.read(&mut byte)? == 0 {
            return Err(bad("connection closed"));
        }
        line.extend_from_slice(&byte);
    }
    let text = std::str::from_utf8(&line).map_err(|_| bad("reply not UTF-8"))?;
    text.trim_end()
        .strip_prefix(':')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad("reply is not an integer"))
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
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
