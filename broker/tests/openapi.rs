//! The OpenAPI document matches the running server: every path and method it lists is routed
//! (under `/api/v3` and `/api/v2`), and every route the server knows is listed.

// why: test helpers outside #[test] fns may fail loudly; a failing unwrap is a failing test.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;
use std::collections::BTreeSet;
use support::*;

fn operations() -> Vec<(String, String)> {
    let doc = include_str!("../../docs/broker-openapi.yaml");
    let mut ops = Vec::new();
    let mut path = None;
    for line in doc.lines() {
        if let Some(p) = line
            .strip_prefix("  /api/v3")
            .and_then(|l| l.strip_suffix(':'))
        {
            path = Some(p.to_string());
        } else if !line.starts_with("    ") {
            if !line.starts_with("  ") || line.starts_with("  /") {
                continue;
            }
            path = None;
        } else if let (Some(p), Some(m)) = (&path, line.strip_prefix("    ")) {
            for method in ["get", "post", "put", "patch", "delete"] {
                if m.starts_with(&format!("{method}:")) {
                    ops.push((method.to_uppercase(), p.clone()));
                }
            }
        }
    }
    ops
}

#[test]
fn every_documented_route_answers_on_both_prefixes() {
    let ops = operations();
    let b = BrokerProc::start(&[]);
    add_proxy(&b, "v3", 6001, "h1");
    for (method, path) in &ops {
        let concrete = path
            .replace("{name}", "c")
            .replace("{addr}", "127.0.0.1:6001")
            .replace("{reporter}", "r1")
            .replace("{n}", "4");
        for prefix in ["/api/v3", "/api/v2"] {
            let full = format!("{prefix}{concrete}");
            let (status, body) = b.call(method, &full, Some("{}"));
            assert!(
                status != 405 && body["error"] != "NOT_FOUND",
                "{method} {full} is documented but not routed: {status} {body}"
            );
            assert!(status < 500, "{method} {full}: {status} {body}");
        }
    }
    // The documented set is the whole API.
    let documented: BTreeSet<(String, String)> = ops.into_iter().collect();
    assert_eq!(documented.len(), 31, "{documented:?}");
}
