//! Errors by the side that caused them, and the one place that turns each into its reply
//! and decides whether the client connection survives (see `docs/errors.md`).

use crate::resp::{compose, ProtocolError};
use bytes::Bytes;

/// Whether the client connection stays open after the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Keep serving the connection.
    Keep,
    /// Write the reply, then close.
    Close,
}

/// What went wrong with a backend, as seen by the requests it affected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The connection is in its reconnect back-off: new requests fail at once.
    Unavailable(String),
    /// Connecting failed while the request waited.
    ConnectFailed(String),
    /// The connection broke with the request in flight.
    Broken,
    /// No reply within `backend_timeout`.
    Timeout,
    /// The backend was removed from the metadata while the request waited.
    Removed,
}

/// An error the proxy reports to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyError {
    /// The client broke RESP.
    Client(ProtocolError),
    /// The client's request was bigger than the proxy buffers.
    RequestTooBig,
    /// A backend failed the request.
    Backend(BackendError),
}

/// The reply and disposition for an error.
pub fn reply_for(e: &ProxyError) -> (Bytes, Disposition) {
    let mut out = Vec::new();
    let disposition = match e {
        ProxyError::Client(p) => {
            compose::error(&mut out, format!("ERR Protocol error: {p}").as_bytes());
            Disposition::Close
        }
        ProxyError::RequestTooBig => {
            compose::error(&mut out, b"ERR Protocol error: request too big");
            Disposition::Close
        }
        ProxyError::Backend(b) => {
            let text = match b {
                BackendError::Unavailable(a) => format!("ERR_BACKEND_CONNECTION: {a}"),
                BackendError::ConnectFailed(a) => format!("failed to connect to {a}"),
                BackendError::Broken => "Err cmd error BackendError".to_string(),
                BackendError::Timeout => "Err cmd error BackendTimeout".to_string(),
                BackendError::Removed => "Err cmd error Canceled".to_string(),
            };
            compose::error(&mut out, text.as_bytes());
            Disposition::Keep
        }
    };
    (Bytes::from(out), disposition)
}

/// Fixed replies, as the original spells them (spec 2.15).
pub mod fixed {
    /// No cluster configured.
    pub const CLUSTER_NOT_FOUND: &[u8] = b"-ERR_CLUSTER_NOT_FOUND\r\n";
    /// Keys in several slots.
    /// why: Redis Cluster's own error, which cluster clients recognise (the original's
    /// `ERR_MULTI_SLOTS` is not).
    pub const MULTI_SLOTS: &[u8] = b"-CROSSSLOT Keys in request don't hash to the same slot\r\n";
    /// Epoch not newer.
    pub const OLD_EPOCH: &[u8] = b"-OLD_EPOCH\r\n";
    /// Local address not on this host.
    pub const NOT_MY_META: &[u8] = b"-ERR_NOT_MY_META\r\n";
    /// `+OK`
    pub const OK: &[u8] = b"+OK\r\n";
    /// `+PONG`
    pub const PONG: &[u8] = b"+PONG\r\n";
    /// Invalid config ignored by SETCLUSTER.
    pub const WARNING_CONFIG: &[u8] = b"+WARNING: ignored invalid config\r\n";
    /// Sub-command missing.
    pub const MISSING_SUB: &[u8] = b"-Missing sub command\r\n";
    /// Sub-command unknown.
    pub const INVALID_SUB: &[u8] = b"-Invalid sub command\r\n";
    /// CLUSTER sub-command not answered.
    pub const UNSUPPORTED_SUB: &[u8] = b"-Unsupported sub command\r\n";
    /// `CLUSTER KEYSLOT` without key.
    pub const MISSING_KEY_UPPER: &[u8] = b"-Missing key\r\n";
    /// `ECHO` without message.
    pub const MISSING_MESSAGE: &[u8] = b"-Missing message\r\n";
    /// AUTH without a configured password.
    pub const NO_PASSWORD: &[u8] = b"-no password configured\r\n";
    /// AUTH with the wrong password (Redis 6+ text).
    pub const INVALID_PASSWORD: &[u8] =
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    /// AUTH without argument.
    pub const MISSING_PASSWORD: &[u8] = b"-Missing password\r\n";
    /// Data command before AUTH (Redis' text).
    pub const NEED_AUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        let (r, d) = reply_for(&ProxyError::Client(ProtocolError::TooBig("bulk")));
        assert_eq!(&r[..], b"-ERR Protocol error: bulk length too big\r\n");
        assert_eq!(d, Disposition::Close);
        let (r, d) = reply_for(&ProxyError::Backend(BackendError::Unavailable(
            "a:1".into(),
        )));
        assert_eq!(&r[..], b"-ERR_BACKEND_CONNECTION: a:1\r\n");
        assert_eq!(d, Disposition::Keep);
    }
}
