//! Bounds on what a peer may make the proxy buffer. Constructor arguments, not globals, so
//! tests and the backend side can choose their own.

/// Parser limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest bulk string. why: 512 MiB is Redis' own `proto-max-bulk-len` default.
    pub max_bulk_len: u64,
    /// Most elements in one array. why: requests with more than a million arguments are not
    /// real traffic; backend replies (LRANGE of a big list) get a larger bound.
    pub max_array_len: u64,
    /// Deepest array nesting. why: requests never nest; replies of Redis' own commands stay
    /// shallow, but a Lua script may return nesting up to Lua's stack limit (about 8000 in
    /// Redis 7), which must still pass through.
    pub max_depth: usize,
    /// Longest inline command line. why: 64 KiB is Redis' `PROTO_INLINE_MAX_SIZE`.
    pub max_inline_len: usize,
}

impl Limits {
    /// Limits for client requests.
    pub const REQUEST: Limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        max_array_len: 1024 * 1024,
        max_depth: 1,
        max_inline_len: 64 * 1024,
    };

    /// Limits for backend replies: the backend is trusted more, but a bug there must still
    /// not make the proxy allocate without bound.
    pub const REPLY: Limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        max_array_len: 1 << 32,
        // why: 16 Ki levels cost the scanner 128 KiB of stack entries at most.
        max_depth: 16 * 1024,
        max_inline_len: 64 * 1024,
    };
}
