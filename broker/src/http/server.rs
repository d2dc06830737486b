//! The HTTP front: a `tiny_http` server drained by a pool of worker threads. Each request's body
//! is read under a size cap, routed, and answered with JSON; big documents are gzipped when the
//! client accepts gzip. A handler that panicked anyway (a bug) costs a 500, not the worker.

use super::errors::ApiError;
use super::routes::{self, Method, Reply};
use crate::service::Broker;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use tiny_http::{Header, Request, Response, Server};

/// Largest request body accepted. A whole metadata document (`PUT /metadata`) of a large
/// deployment fits with room to spare; anything bigger is refused before it is buffered.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// Starts `workers` threads serving `server` until it is unblocked.
pub fn spawn_workers(
    broker: Arc<Broker>,
    server: Arc<Server>,
    workers: usize,
) -> Vec<JoinHandle<()>> {
    (0..workers.max(1))
        .map(|i| {
            let broker = broker.clone();
            let server = server.clone();
            thread::Builder::new()
                .name(format!("http-{i}"))
                .spawn(move || {
                    while let Ok(req) = server.recv() {
                        handle(&broker, req);
                    }
                })
        })
        .filter_map(|r| match r {
            Ok(h) => Some(h),
            Err(e) => {
                log::error!("cannot start HTTP worker: {e}");
                None
            }
        })
        .collect()
}

fn method_of(m: &tiny_http::Method) -> Method {
    match m {
        tiny_http::Method::Get => Method::Get,
        tiny_http::Method::Post => Method::Post,
        tiny_http::Method::Put => Method::Put,
        tiny_http::Method::Patch => Method::Patch,
        tiny_http::Method::Delete => Method::Delete,
        _ => Method::Other,
    }
}

fn read_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    if req.body_length().is_some_and(|n| n > MAX_BODY) {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut body = Vec::new();
    req.as_reader()
        .take(u64::try_from(MAX_BODY).unwrap_or(u64::MAX) + 1)
        .read_to_end(&mut body)
        .map_err(|e| ApiError::BadRequest(format!("cannot read body: {e}")))?;
    if body.len() > MAX_BODY {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(body)
}

fn accepts_gzip(req: &Request) -> bool {
    req.headers()
        .iter()
        .filter(|h| h.field.equiv("Accept-Encoding"))
        .flat_map(|h| h.value.as_str().split(','))
        .any(|token| {
            let mut parts = token.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Percent-decodes one path segment (`127.0.0.1%3A6001` → `127.0.0.1:6001`).
fn decode(seg: &str) -> Result<String, ApiError> {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| ApiError::BadRequest("bad percent-encoding in path".into()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::BadRequest("path is not UTF-8".into()))
}

fn route(broker: &Broker, req: &mut Request) -> Result<Reply, ApiError> {
    let url = req.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let rest = path
        .strip_prefix("/api/v3/")
        .or_else(|| path.strip_prefix("/api/v2/"))
        .ok_or(ApiError::NotFound)?;
    let segs: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(decode)
        .collect::<Result<_, _>>()?;
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let query: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect::<Result<_, ApiError>>()?;
    let body = read_body(req)?;
    let method = method_of(req.method());
    routes::dispatch(broker, method, &segs, &query, &body)
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).ok()?;
    enc.finish().ok()
}

/// Header set on every answer given while the broker's cache may lag shared storage (etcd
/// unreachable or its watch reconnecting): the data is the last known, not confirmed current.
pub const STALE_HEADER: &str = "X-Undermoon-Stale";

/// The route template of a request URL, for the metrics.
fn route_label(url: &str) -> &'static str {
    let path = url.split('?').next().unwrap_or_default();
    let Some(rest) = path
        .strip_prefix("/api/v3/")
        .or_else(|| path.strip_prefix("/api/v2/"))
    else {
        return "unknown";
    };
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    routes::route_name(&segs)
}

fn handle(broker: &Broker, mut req: Request) {
    let gz = accepts_gzip(&req);
    let method = super::metrics::method_label(req.method());
    let route_tag = route_label(req.url());
    let result = catch_unwind(AssertUnwindSafe(|| route(broker, &mut req))).unwrap_or_else(|_| {
        Err(ApiError::Store(crate::store::StoreError::Internal(
            "handler panicked".into(),
        )))
    });
    let json = "application/json";
    let (status, body, content_type, gzipped) = match result {
        Ok(Reply::Json(v)) => (200, v, Some(json), false),
        Ok(Reply::Big(raw)) => match gz.then(|| gzip(&raw)).flatten() {
            Some(z) => (200, z, Some(json), true),
            None => (200, raw, Some(json), false),
        },
        Ok(Reply::Empty) => (200, Vec::new(), None, false),
        Ok(Reply::Text(t)) => (200, t.as_bytes().to_vec(), Some("text/plain"), false),
        Err(e) => {
            if e.status() >= 500 {
                log::error!("{} {}: {:?}", req.method(), req.url(), e);
            }
            (
                e.status(),
                e.body().to_string().into_bytes(),
                Some(json),
                false,
            )
        }
    };
    broker.http_metrics.record(method, route_tag, status);
    let mut resp = Response::from_data(body)
        .with_status_code(status)
        .with_chunked_threshold(usize::MAX);
    if let Some(h) = content_type.and_then(|ct| header("Content-Type", ct)) {
        resp.add_header(h);
    }
    if gzipped {
        if let Some(h) = header("Content-Encoding", "gzip") {
            resp.add_header(h);
        }
    }
    if broker.stale() {
        if let Some(h) = header(STALE_HEADER, "true") {
            resp.add_header(h);
        }
    }
    if let Err(e) = req.respond(resp) {
        log::debug!("client went away: {e}");
    }
}
