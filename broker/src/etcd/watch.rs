//! The cache feeder: one thread per broker that reads the metadata key, then follows it with
//! an etcd watch (a streaming HTTP response of newline-separated JSON messages, chunked) and
//! installs every new revision in the broker's cache. When the stream breaks, etcd goes away
//! or the watch is cancelled (compaction), it marks the cache stale, waits a moment and
//! starts over with a fresh read, so nothing written meanwhile is missed.

use super::client::{num, EtcdClient, EtcdError, Kv, RawKv};
use super::Health;
use crate::http::client::MAX_RESPONSE;
use serde::Deserialize;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Pause before reconnecting: short, so a broker is fresh again soon after etcd returns,
/// long enough not to spin while it is down.
const RECONNECT_DELAY: Duration = Duration::from_millis(300);

/// A silent watch is re-established after this long. etcd 3.4 sends no keep-alive on an
/// idle watch, so this is how a stream cut without a FIN (a network partition) is noticed;
/// the cost is one read of the key every half minute on an idle cluster.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where watched revisions go (the broker's cache).
pub trait Cache {
    /// Installs the key as of a revision; `None`: the key was deleted. Older revisions than
    /// the cached one are ignored.
    fn install(&self, kv: Option<Kv>);
}

#[derive(Deserialize)]
struct Event {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    kv: Option<RawKv>,
}

#[derive(Deserialize, Default)]
struct WatchResult {
    #[serde(default)]
    created: bool,
    #[serde(default)]
    canceled: bool,
    #[serde(default)]
    compact_revision: Option<String>,
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    result: Option<WatchResult>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Follows the key for the life of the process.
pub fn run_forever(client: &EtcdClient, health: &Health, cache: &dyn Cache) {
    loop {
        match follow(client, health, cache) {
            Err(EtcdError::Unreachable(e)) => {
                health.set_reachable(false);
                log::warn!("etcd watch: {e}; cached metadata is stale until etcd is back");
            }
            Err(e) => log::warn!("etcd watch restarts: {e}"),
            Ok(()) => log::debug!("etcd watch idle; re-establishing"),
        }
        health.set_watching(false);
        std::thread::sleep(RECONNECT_DELAY);
    }
}

/// One read-then-watch session; returns when the stream ends.
fn follow(client: &EtcdClient, health: &Health, cache: &dyn Cache) -> Result<(), EtcdError> {
    let (revision, kv) = client.range()?;
    health.set_reachable(true);
    cache.install(kv);
    let body = json!({"create_request": {
        "key": client.key_b64(), "start_revision": (revision + 1).to_string()}})
    .to_string();
    let mut last = String::from("no etcd endpoint configured");
    for (i, ep) in client.endpoints().iter().enumerate() {
        match open(ep, &body) {
            Ok(stream) => {
                client.prefer(i);
                return read_events(stream, health, cache);
            }
            Err(e) => last = format!("{ep}: {e}"),
        }
    }
    Err(EtcdError::Unreachable(last))
}

fn open(ep: &str, body: &str) -> std::io::Result<BufReader<TcpStream>> {
    let addr = ep
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("address did not resolve"))?;
    let mut s = TcpStream::connect_timeout(&addr, super::client::REQUEST_TIMEOUT)?;
    s.set_read_timeout(Some(IDLE_TIMEOUT))?;
    s.set_write_timeout(Some(super::client::REQUEST_TIMEOUT))?;
    let head = format!(
        "POST /v3/watch HTTP/1.1\r\nHost: {ep}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status)?;
    if status.split(' ').nth(1) != Some("200") {
        return Err(std::io::Error::other(format!(
            "watch answered {}",
            status.trim()
        )));
    }
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("watch stream closed in headers"));
        }
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            chunked |= k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.trim().eq_ignore_ascii_case("chunked");
        }
    }
    if !chunked {
        return Err(std::io::Error::other(
            "watch answer is not a chunked stream",
        ));
    }
    Ok(r)
}

fn io_err(e: std::io::Error) -> EtcdError {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            EtcdError::Refused("idle".into())
        }
        _ => EtcdError::Unreachable(format!("watch stream: {e}")),
    }
}

/// Reads chunks, splits them into messages at newlines, and applies each message.
fn read_events(mut r: impl BufRead, health: &Health, cache: &dyn Cache) -> Result<(), EtcdError> {
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let mut size_line = String::new();
        match r.read_line(&mut size_line) {
            Ok(0) => return Err(EtcdError::Unreachable("watch stream closed".into())),
            Ok(_) => {}
            Err(e) => {
                return match io_err(e) {
                    EtcdError::Refused(_) => Ok(()),
                    e => Err(e),
                }
            }
        }
        let size_text = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| EtcdError::Unreachable("bad chunk size in watch stream".into()))?;
        if size == 0 {
            return Err(EtcdError::Unreachable("watch stream ended".into()));
        }
        if pending.len() + size > MAX_RESPONSE {
            return Err(EtcdError::Refused("watch message too large".into()));
        }
        let start = pending.len();
        pending.resize(start + size, 0);
        let chunk = pending.get_mut(start..).unwrap_or_default();
        r.read_exact(chunk).map_err(io_err)?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).map_err(io_err)?;
        while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=nl).collect();
            apply(&line, health, cache)?;
        }
    }
}

fn apply(line: &[u8], health: &Health, cache: &dyn Cache) -> Result<(), EtcdError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let msg: Message = serde_json::from_slice(line)
        .map_err(|e| EtcdError::Refused(format!("bad watch message: {e}")))?;
    if let Some(err) = msg.error {
        return Err(EtcdError::Refused(format!("watch error: {err}")));
    }
    let Some(result) = msg.result else {
        return Ok(());
    };
    if result.created {
        health.set_watching(true);
    }
    if result.canceled {
        let compacted = num(result.compact_revision.as_deref()).unwrap_or(0);
        return Err(EtcdError::Refused(format!(
            "watch cancelled (compacted to {compacted})"
        )));
    }
    for ev in result.events {
        if ev.kind.as_deref() == Some("DELETE") {
            cache.install(None);
        } else if let Some(kv) = ev.kv {
            cache.install(Some(kv.decode()?));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Seen(Mutex<Vec<Option<Kv>>>);

    impl Cache for Seen {
        fn install(&self, kv: Option<Kv>) {
            self.0.lock().unwrap().push(kv);
        }
    }

    fn chunk(data: &[u8]) -> Vec<u8> {
        let mut out = format!("{:x}\r\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        out
    }

    #[test]
    fn messages_split_across_chunks_install_in_order() {
        let messages = [
            &br#"{"result":{"header":{"revision":"2"},"created":true}}"#[..],
            br#"{"result":{"events":[{"kv":{"key":"aw==","mod_revision":"7","value":"aGk="}}]}}"#,
            br#"{"result":{"events":[{"type":"DELETE","kv":{"key":"aw==","mod_revision":"8"}}]}}"#,
        ];
        let all: Vec<u8> = messages.iter().flat_map(|m| [*m, b"\n"].concat()).collect();
        let mut stream: Vec<u8> = all.chunks(17).flat_map(chunk).collect();
        stream.extend_from_slice(b"0\r\n\r\n");
        let health = Health::default();
        health.set_reachable(true);
        let seen = Seen::default();
        let end = read_events(&stream[..], &health, &seen);
        assert!(matches!(end, Err(EtcdError::Unreachable(_))), "{end:?}");
        assert!(!health.stale(), "created marks the watch up");
        let kv = Kv {
            mod_revision: 7,
            value: b"hi".to_vec(),
        };
        assert_eq!(seen.0.into_inner().unwrap(), vec![Some(kv), None]);
    }

    #[test]
    fn cancelled_failed_or_garbled_watches_restart() {
        let (h, s) = (Health::default(), Seen::default());
        let cancelled = br#"{"result":{"canceled":true,"compact_revision":"5"}}"#;
        assert!(apply(cancelled, &h, &s).is_err());
        assert!(apply(br#"{"error":{"grpc_code":14}}"#, &h, &s).is_err());
        assert!(apply(b"not json", &h, &s).is_err());
        assert!(apply(b"\n", &h, &s).is_ok());
        assert!(h.stale());
        assert!(s.0.into_inner().unwrap().is_empty());
    }
}
