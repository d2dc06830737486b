//! One `REPLICAOF` call to a local Redis node, on its own short-lived connection with
//! timeouts, so a hung Redis never stalls the replicator for longer than `timeout`.

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use std::io;
use std::time::Duration;

/// Longest reply line read. why: REPLICAOF answers one short status or error line.
const MAX_REPLY: usize = 512;

/// Makes `node` a master (`master = None`) or a replica of `master` (`host:port`).
///
/// ```text
/// > REPLICAOF NO ONE | REPLICAOF <host> <port>
/// < +OK...
/// ```
///
/// # Errors
/// Connect/IO failure or timeout, a malformed master address, or an error reply.
pub async fn replicaof(node: &str, master: Option<&str>, timeout: Duration) -> io::Result<()> {
    let (host, port) = match master {
        None => ("NO", "ONE"),
        Some(m) => m
            .rsplit_once(':')
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad master address"))?,
    };
    let mut req = Vec::with_capacity(64);
    for (i, arg) in ["REPLICAOF", host, port].iter().enumerate() {
        if i == 0 {
            req.extend_from_slice(b"*3\r\n");
        }
        req.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    let mut stream = TcpStream::connect_timeout(node, timeout)
        .await
        .map_err(|e| io::Error::other(e.to_string()))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| io::Error::other(e.to_string()))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| io::Error::other(e.to_string()))?;
    stream.write_all(&req).await?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 128];
    while !reply.ends_with(b"\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || reply.len() > MAX_REPLY {
            return Err(io::Error::other("no complete reply"));
        }
        reply.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    if reply.first() == Some(&b'+') {
        Ok(())
    } else {
        Err(io::Error::other(
            String::from_utf8_lossy(&reply).trim_end().to_string(),
        ))
    }
}
