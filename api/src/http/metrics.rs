//! Prometheus metrics at `/metrics`, kept in atomics (no registry crate needed): HTTP requests by
//! route and status class, request latency histogram, GraphQL errors by code, open subscription
//! connections, and the database pool.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String), u64>>,
    latency_buckets: [AtomicU64; 10],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    pub subscriptions: AtomicI64,
}

impl Metrics {
    pub fn observe(&self, route: &str, status: u16, seconds: f64) {
        let class = format!("{}xx", status / 100);
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((route.to_string(), class))
            .or_default() += 1;
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn error(&self, code: &str) {
        *self
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(code.to_string())
            .or_default() += 1;
    }

    pub fn render(&self, pool: (u32, u32)) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# HELP almanac_http_requests_total HTTP requests by route and status class.\n# TYPE almanac_http_requests_total counter");
        for ((route, class), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                s,
                "almanac_http_requests_total{{route=\"{route}\",status=\"{class}\"}} {n}"
            );
        }
        let _ = writeln!(s, "# HELP almanac_http_request_duration_seconds Request latency.\n# TYPE almanac_http_request_duration_seconds histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "almanac_http_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
                self.latency_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            s,
            "almanac_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            s,
            "almanac_http_request_duration_seconds_sum {}",
            self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(s, "almanac_http_request_duration_seconds_count {count}");
        let _ = writeln!(s, "# HELP almanac_graphql_errors_total GraphQL errors by extensions.code.\n# TYPE almanac_graphql_errors_total counter");
        for (code, n) in self.errors.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(s, "almanac_graphql_errors_total{{code=\"{code}\"}} {n}");
        }
        let _ = writeln!(s, "# HELP almanac_subscription_connections Open WebSocket connections.\n# TYPE almanac_subscription_connections gauge");
        let _ = writeln!(
            s,
            "almanac_subscription_connections {}",
            self.subscriptions.load(Ordering::Relaxed)
        );
        let _ = writeln!(s, "# HELP almanac_db_pool_connections Database pool connections.\n# TYPE almanac_db_pool_connections gauge");
        let _ = writeln!(
            s,
            "almanac_db_pool_connections{{state=\"open\"}} {}",
            pool.0
        );
        let _ = writeln!(
            s,
            "almanac_db_pool_connections{{state=\"idle\"}} {}",
            pool.1
        );
        s
    }
}
