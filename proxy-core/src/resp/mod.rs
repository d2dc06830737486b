//! RESP2, pure and zero-copy: no I/O, no allocation sized by what a peer claims.
//!
//! * [`request`]: client requests (arrays of bulk strings, or inline lines) as offsets into the
//!   read buffer.
//! * [`reply`]: finds where one backend reply ends, so it can be passed through as the backend's
//!   bytes.
//! * [`compose`]: the few replies the proxy writes itself.
//!
//! Incomplete input is `Ok(None)` ("read more"), never an error; an error means the peer broke
//! the protocol and the connection must close.

pub mod compose;
mod limits;
pub(crate) mod line;
pub mod reply;
pub mod request;

pub use limits::Limits;

/// A peer broke the protocol. Shown to clients as `-ERR Protocol error: <text>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A type byte the position does not allow.
    #[error("expected '{expected}', got '{got}'")]
    UnexpectedByte {
        /// What the grammar wanted.
        expected: char,
        /// What arrived (non-printable bytes shown as `?`).
        got: char,
    },
    /// A length or integer that is not a decimal number.
    #[error("invalid {0} length")]
    BadLength(&'static str),
    /// A length above the configured limit.
    #[error("{0} length too big")]
    TooBig(&'static str),
    /// A line or bulk not terminated by CRLF.
    #[error("expected CRLF")]
    MissingCrlf,
    /// Arrays nested deeper than the limit.
    #[error("nesting too deep")]
    TooDeep,
    /// An inline command line longer than the limit.
    #[error("too big inline request")]
    InlineTooBig,
    /// Unbalanced quotes in an inline command.
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
}
