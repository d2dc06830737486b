//! Fuzz target: the proxy's RESP parsers (`proxy_core::resp`), the bytes every client and
//! backend controls.
//!
//! Besides "never panics", it checks what the session relies on: a parsed frame lies inside
//! the buffer, a strict prefix of a complete frame is "read more" (never an error: a request
//! split across two reads must not close the connection), and an inline request re-encoded
//! for the backend parses back to the same arguments.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use proxy_core::resp::{reply, request, Limits};

/// Small limits so the fuzzer reaches the "too big" branches with small inputs.
const SMALL: Limits = Limits {
    max_bulk_len: 64,
    max_array_len: 16,
    max_depth: 4,
    max_inline_len: 64,
};

fn prefixes(len: usize) -> impl Iterator<Item = usize> {
    // why: every prefix of a short frame, a sample of a long one, keeps each run fast.
    let step = (len / 256).max(1);
    (0..len).step_by(step)
}

fn requests(data: &[u8], lim: &Limits) {
    let mut rest = data;
    while !rest.is_empty() {
        let Ok(Some(p)) = request::parse(rest, lim) else {
            return;
        };
        assert!(p.len > 0 && p.len <= rest.len(), "frame outside the buffer");
        for &(s, e) in &p.args {
            assert!(s <= e && e <= p.len, "argument outside the frame");
        }
        let frame = &rest[..p.len];
        assert_eq!(
            request::parse(frame, lim),
            Ok(Some(p.clone())),
            "frame alone differs"
        );
        for k in prefixes(p.len) {
            assert_eq!(
                request::parse(&rest[..k], lim),
                Ok(None),
                "prefix {k} of a frame"
            );
        }
        let req = request::Request::new(Bytes::copy_from_slice(frame), p.clone());
        let wire = req.wire_bytes();
        let args: Vec<&[u8]> = req.args().collect();
        if p.inline && !args.is_empty() {
            let again = request::parse(&wire, &Limits::REQUEST)
                .ok()
                .flatten()
                .map(|q| {
                    q.args
                        .iter()
                        .map(|&(s, e)| wire[s..e].to_vec())
                        .collect::<Vec<_>>()
                });
            let want: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
            assert_eq!(
                again,
                Some(want),
                "inline re-encoding changed the arguments"
            );
        }
        rest = &rest[p.len..];
    }
}

fn replies(data: &[u8], lim: &Limits) {
    let mut rest = data;
    while !rest.is_empty() {
        let Ok(Some(n)) = reply::scan(rest, lim) else {
            return;
        };
        assert!(n > 0 && n <= rest.len(), "reply outside the buffer");
        assert_eq!(
            reply::scan(&rest[..n], lim),
            Ok(Some(n)),
            "reply alone differs"
        );
        for k in prefixes(n) {
            assert_eq!(
                reply::scan(&rest[..k], lim),
                Ok(None),
                "prefix {k} of a reply"
            );
        }
        if let Some(elems) = reply::array_elements(&rest[..n], lim) {
            for (s, e) in elems {
                assert!(s < e && e <= n, "element outside the reply");
            }
        }
        rest = &rest[n..];
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => requests(body, &Limits::REQUEST),
        1 => requests(body, &SMALL),
        2 => replies(body, &Limits::REPLY),
        _ => replies(body, &SMALL),
    }
});
