//! The broker's Prometheus metrics: API requests by method, route and status (counted by the
//! HTTP workers as they answer), plus gauges read from the metadata when scraped. Served from
//! the metrics thread (`control::metrics::serve`), never from an API worker.

use crate::service::Broker;
use control::metrics::{Exposition, Kind};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Request counters. A mutex is enough: one short lock per API request, which already takes
/// the metadata lock, and no request path in the data plane.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
}

impl HttpMetrics {
    /// Counts one answered request.
    pub fn record(&self, method: &'static str, route: &'static str, status: u16) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method, route, status)).or_insert(0) += 1;
        }
    }

    fn snapshot(&self) -> Vec<((&'static str, &'static str, u16), u64)> {
        self.requests
            .lock()
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }
}

/// The method label: the API's methods by name, anything else `other`.
pub fn method_label(m: &tiny_http::Method) -> &'static str {
    match m {
        tiny_http::Method::Get => "GET",
        tiny_http::Method::Post => "POST",
        tiny_http::Method::Put => "PUT",
        tiny_http::Method::Patch => "PATCH",
        tiny_http::Method::Delete => "DELETE",
        tiny_http::Method::Head => "HEAD",
        _ => "other",
    }
}

/// The broker's metrics page.
pub fn exposition(b: &Broker) -> String {
    let mut e = Exposition::new();
    let name = "undermoon_broker_requests_total";
    e.family(
        name,
        Kind::Counter,
        "API requests answered, by method, route (path template) and HTTP status.",
    );
    for ((method, route, status), n) in b.http_metrics.snapshot() {
        let status = status.to_string();
        e.sample(
            name,
            &[("method", method), ("route", route), ("status", &status)],
            n as f64,
        );
    }
    let sizes = b.read(|s| {
        (
            s.global_epoch,
            s.clusters.len(),
            s.all_proxies.len(),
            s.failed_proxies.len(),
        )
    });
    if let Ok((epoch, clusters, proxies, failed)) = sizes {
        e.single(
            "undermoon_broker_global_epoch",
            Kind::Gauge,
            "Global metadata epoch.",
            epoch as f64,
        );
        e.single(
            "undermoon_broker_clusters",
            Kind::Gauge,
            "Clusters in the metadata.",
            clusters as f64,
        );
        e.single(
            "undermoon_broker_proxies",
            Kind::Gauge,
            "Proxies registered.",
            proxies as f64,
        );
        e.single(
            "undermoon_broker_failed_proxies",
            Kind::Gauge,
            "Proxies marked failed.",
            failed as f64,
        );
    }
    e.finish()
}
