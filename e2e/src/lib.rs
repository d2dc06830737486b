//! # e2e: the whole deployment under test
//!
//! ```text
//!  test ──HTTP──► mem_broker ◄──HTTP── coordinator ──RESP──► server_proxy ×3 ──► redis-server ×6
//!   └──────────── cluster client (MOVED/ASK) ───────────────────┘
//! ```
//!
//! No library code: the tests under `tests/` start the real binaries of the workspace (found
//! next to the test executable in the target directory; `cargo test --workspace` builds them
//! first because `broker`, `proxy-core` and `control` have integration tests of their own) and
//! real `redis-server` processes on free 127.0.0.1 ports.
#![forbid(unsafe_code)]
