//! A small blocking RESP2 client: encode a command as an array of bulk strings, read one reply
//! with bounded sizes. The coordinator calls proxies with it (and parses its admin port's
//! requests with the same reader); the broker asks proxies for their epoch.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Longest line (simple string, error, integer, header). why: control replies are short; a
/// peer sending an endless line must not grow memory.
const MAX_LINE: usize = 64 * 1024;
/// Largest bulk string read. why: the biggest control payload (a compressed SETCLUSTER of a
/// large cluster) is far below this.
const MAX_BULK: usize = 64 * 1024 * 1024;
/// Largest array length accepted. Elements are read one by one, never preallocated.
const MAX_ARRAY: usize = 1024 * 1024;
/// Deepest array nesting (`UMCTL INFO` nests 5 deep).
const MAX_DEPTH: usize = 16;

/// A RESP reply (or request) value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+...`
    Simple(String),
    /// `-...`
    Error(String),
    /// `:n`
    Int(i64),
    /// `$n` payload.
    Bulk(Vec<u8>),
    /// `$-1` or `*-1`.
    Nil,
    /// `*n` elements.
    Array(Vec<Value>),
}

impl Value {
    /// The text of a simple string, error or bulk string (lossy); empty for others.
    pub fn text(&self) -> String {
        match self {
            Value::Simple(s) | Value::Error(s) => s.clone(),
            Value::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        }
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Reads one `\r\n`-terminated line (without the terminator), at most [`MAX_LINE`] bytes.
///
/// # Errors
/// IO error, EOF, or an over-long line.
pub fn read_line<R: BufRead>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let n = r
        .by_ref()
        .take(u64::try_from(MAX_LINE).unwrap_or(u64::MAX))
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    if !line.ends_with(b"\r\n") {
        return Err(bad("line too long or not CRLF-terminated"));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn parse_len(s: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad length"))
}

/// Reads one value.
///
/// # Errors
/// IO error, EOF, or a malformed or over-limit value.
pub fn read_value<R: BufRead>(r: &mut R) -> io::Result<Value> {
    read_nested(r, 0)
}

fn read_nested<R: BufRead>(r: &mut R, depth: usize) -> io::Result<Value> {
    if depth > MAX_DEPTH {
        return Err(bad("nesting too deep"));
    }
    let line = read_line(r)?;
    let (kind, rest) = line.split_first().ok_or_else(|| bad("empty line"))?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    match kind {
        b'+' => Ok(Value::Simple(text())),
        b'-' => Ok(Value::Error(text())),
        b':' => Ok(Value::Int(parse_len(rest)?)),
        b'$' => {
            let n = parse_len(rest)?;
            let Ok(n) = usize::try_from(n) else {
                return Ok(Value::Nil);
            };
            if n > MAX_BULK {
                return Err(bad("bulk string too large"));
            }
            let mut data = Vec::new();
            r.by_ref()
                .take(u64::try_from(n + 2).unwrap_or(u64::MAX))
                .read_to_end(&mut data)?;
            if data.len() != n + 2 || !data.ends_with(b"\r\n") {
                return Err(bad("short bulk string"));
            }
            data.truncate(n);
            Ok(Value::Bulk(data))
        }
        b'*' => {
            let n = parse_len(rest)?;
            let Ok(n) = usize::try_from(n) else {
                return Ok(Value::Nil);
            };
            if n > MAX_ARRAY {
                return Err(bad("array too long"));
            }
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(read_nested(r, depth + 1)?);
            }
            Ok(Value::Array(items))
        }
        _ => Err(bad("unknown RESP type")),
    }
}

/// One connection with read/write timeouts.
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    /// Connects to `addr` (`host:port`) within `timeout`; reads and writes time out too.
    ///
    /// # Errors
    /// Resolution, connect or socket-option failure.
    pub fn connect(addr: &str, timeout: Duration) -> io::Result<Self> {
        let sock = addr.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "address did not resolve")
        })?;
        let stream = TcpStream::connect_timeout(&sock, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(stream),
        })
    }

    /// As [`Conn::connect`], then `AUTH <password>` when one is given (a proxy's
    /// `control_password`, which gates its UMCTL).
    ///
    /// # Errors
    /// As [`Conn::connect`]; a refused AUTH is `PermissionDenied` with the proxy's error text.
    pub fn connect_auth(addr: &str, timeout: Duration, password: Option<&str>) -> io::Result<Self> {
        let mut conn = Self::connect(addr, timeout)?;
        if let Some(p) = password {
            if let Value::Error(e) = conn.call(&["AUTH", p])? {
                return Err(io::Error::new(io::ErrorKind::PermissionDenied, e));
            }
        }
        Ok(conn)
    }

    /// Sends one command and reads its reply. An error reply is `Ok(Value::Error(..))`.
    ///
    /// # Errors
    /// IO failure, timeout or a malformed reply; the connection should then be dropped.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Value> {
        self.reader.get_mut().write_all(&encode(args))?;
        read_value(&mut self.reader)
    }

    /// Sends every command in one write, then reads one reply per command, in order.
    ///
    /// # Errors
    /// As [`Conn::call`].
    pub fn pipeline<A: AsRef<[u8]>>(&mut self, cmds: &[Vec<A>]) -> io::Result<Vec<Value>> {
        let mut out = Vec::new();
        for c in cmds {
            out.extend_from_slice(&encode(c));
        }
        self.reader.get_mut().write_all(&out)?;
        cmds.iter().map(|_| read_value(&mut self.reader)).collect()
    }
}

/// Connects, sends one command, reads its reply.
///
/// # Errors
/// As [`Conn::connect`] and [`Conn::call`].
pub fn call_once<A: AsRef<[u8]>>(addr: &str, args: &[A], timeout: Duration) -> io::Result<Value> {
    Conn::connect(addr, timeout)?.call(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(b: &[u8]) -> io::Result<Value> {
        read_value(&mut BufReader::new(b))
    }

    #[test]
    fn reads_every_type_and_bounds_them() {
        assert_eq!(read(b"+OK\r\n").unwrap(), Value::Simple("OK".into()));
        assert_eq!(read(b"-ERR x\r\n").unwrap(), Value::Error("ERR x".into()));
        assert_eq!(read(b":42\r\n").unwrap(), Value::Int(42));
        assert_eq!(read(b"$-1\r\n").unwrap(), Value::Nil);
        assert_eq!(
            read(b"*2\r\n$1\r\na\r\n*0\r\n").unwrap(),
            Value::Array(vec![Value::Bulk(b"a".to_vec()), Value::Array(vec![])])
        );
        assert!(read(b"$5\r\nab\r\n").is_err());
        assert!(read(b"*99999999999\r\n").is_err());
        assert!(read(b"$99999999999\r\n").is_err());
        assert!(read(b"?x\r\n").is_err());
        assert!(read(b"+OK").is_err());
        assert!(read(&b"*1\r\n".repeat(40)).is_err());
    }

    #[test]
    fn encode_then_read_gives_the_args() {
        let bytes = encode(&["UMCTL", "SETREPL", ""]);
        assert_eq!(
            read(&bytes).unwrap(),
            Value::Array(vec![
                Value::Bulk(b"UMCTL".to_vec()),
                Value::Bulk(b"SETREPL".to_vec()),
                Value::Bulk(Vec::new()),
            ])
        );
    }
}
