//! What the gateway is doing right now and has done since it started: requests in flight and
//! counters for Prometheus. Updated on the hot path with atomics and short locks; read by the
//! admin API.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use relaygate_store::RequestLog;

/// Upper bounds (ms) of the latency histogram buckets.
pub const LATENCY_BUCKETS_MS: [u64; 12] = [
    25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000,
];

/// One request in flight, shared with its relay so bytes are counted as they pass.
#[derive(Debug)]
pub struct ActiveEntry {
    /// Request id.
    pub id: String,
    /// Arrival, unix ms.
    pub started_at_ms: u64,
    /// The client's protocol.
    pub client_protocol: &'static str,
    /// Requested model.
    pub model: Mutex<String>,
    /// The channel serving it (once one answered).
    pub channel: Mutex<Option<String>>,
    /// Whether it streams.
    pub stream: std::sync::atomic::AtomicBool,
    /// Body bytes sent to the client so far.
    pub bytes: AtomicU64,
    /// Time to first byte, ms (0 = not yet).
    pub first_byte_ms: AtomicU64,
}

/// A copy of an [`ActiveEntry`] for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRequest {
    /// Request id.
    pub id: String,
    /// Arrival, unix ms.
    pub started_at_ms: u64,
    /// The client's protocol.
    pub client_protocol: String,
    /// Requested model.
    pub model: String,
    /// The channel serving it, if one answered yet.
    pub channel: Option<String>,
    /// Whether it streams.
    pub stream: bool,
    /// Body bytes sent so far.
    pub bytes: u64,
    /// Time to first byte, ms.
    pub first_byte_ms: Option<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Counters of one (channel, model) series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Series {
    /// Channel name (`none` when no channel was reached).
    pub channel: String,
    /// Model asked for.
    pub model: String,
    /// Requests finished.
    pub requests: u64,
    /// Of which failed (status ≥ 400 or an error after the head).
    pub errors: u64,
    /// Input tokens (excluding cached).
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cached input tokens read.
    pub cache_read_tokens: u64,
    /// Cost, micro-dollars.
    pub cost_micro_usd: i64,
    /// Requests whose model had no price.
    pub unpriced: u64,
    /// Duration histogram (cumulative counts per [`LATENCY_BUCKETS_MS`], then +Inf).
    pub duration_buckets: Vec<u64>,
    /// Sum of durations, ms.
    pub duration_sum_ms: u64,
    /// First-byte histogram (cumulative, as above).
    pub first_byte_buckets: Vec<u64>,
    /// Sum of first-byte times, ms.
    pub first_byte_sum_ms: u64,
    /// Requests with a first byte.
    pub first_byte_count: u64,
}

fn observe(buckets: &mut Vec<u64>, v: u64) {
    if buckets.is_empty() {
        *buckets = vec![0; LATENCY_BUCKETS_MS.len() + 1];
    }
    for (i, bound) in LATENCY_BUCKETS_MS.iter().enumerate() {
        if v <= *bound {
            buckets[i] += 1;
        }
    }
    buckets[LATENCY_BUCKETS_MS.len()] += 1;
}

/// The model label of requests for models the routing table does not know.
pub const OTHER_MODEL: &str = "other";

/// In-flight requests and counters. Every label set is bounded: channels and models come from
/// the routing table (other models count as [`OTHER_MODEL`]), refusal reasons and outcome kinds
/// from fixed lists, so nothing a client sends adds a series.
#[derive(Debug, Default)]
pub struct Observer {
    active: Mutex<HashMap<String, Arc<ActiveEntry>>>,
    series: Mutex<HashMap<(String, String), Series>>,
    errors_by_kind: Mutex<HashMap<String, u64>>,
    refused: [AtomicU64; 4],
    refused_rows_dropped: AtomicU64,
}

impl Observer {
    /// Registers a request in flight.
    pub fn start(
        &self,
        id: &str,
        started_at_ms: u64,
        client_protocol: &'static str,
    ) -> Arc<ActiveEntry> {
        let entry = Arc::new(ActiveEntry {
            id: id.to_owned(),
            started_at_ms,
            client_protocol,
            model: Mutex::new(String::new()),
            channel: Mutex::new(None),
            stream: std::sync::atomic::AtomicBool::new(false),
            bytes: AtomicU64::new(0),
            first_byte_ms: AtomicU64::new(0),
        });
        lock(&self.active).insert(id.to_owned(), Arc::clone(&entry));
        entry
    }

    /// Counts a request refused before authentication.
    pub(crate) fn refused(&self, why: crate::pipeline::Refusal) {
        let i = crate::pipeline::Refusal::ALL
            .iter()
            .position(|r| *r == why)
            .unwrap_or(0);
        self.refused[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refused request whose log row was not written (over the per-minute caps).
    pub(crate) fn refused_row_dropped(&self) {
        self.refused_rows_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Refused requests by reason (fixed labels).
    pub fn refused_by_reason(&self) -> Vec<(&'static str, u64)> {
        crate::pipeline::Refusal::ALL
            .iter()
            .zip(&self.refused)
            .map(|(r, n)| (r.as_str(), n.load(Ordering::Relaxed)))
            .collect()
    }

    /// Refused requests whose log row the per-minute caps left out.
    pub fn refused_rows_dropped(&self) -> u64 {
        self.refused_rows_dropped.load(Ordering::Relaxed)
    }

    /// Records a finished request and forgets it as in flight. `known_model` says whether the
    /// routing table serves the requested model; if not, it counts as [`OTHER_MODEL`].
    pub fn finish(&self, row: &RequestLog, known_model: bool) {
        lock(&self.active).remove(&row.request_id);
        let model = if known_model {
            row.model_requested.clone()
        } else {
            OTHER_MODEL.to_owned()
        };
        let key = (
            row.channel_name
                .clone()
                .unwrap_or_else(|| "none".to_owned()),
            model,
        );
        let failed = row.status >= 400 || row.error.is_some();
        {
            let mut series = lock(&self.series);
            let s = series.entry(key.clone()).or_insert_with(|| Series {
                channel: key.0.clone(),
                model: key.1.clone(),
                ..Series::default()
            });
            s.requests += 1;
            s.errors += u64::from(failed);
            if let Some(u) = row.usage {
                s.input_tokens += u.input;
                s.output_tokens += u.output;
                s.cache_read_tokens += u.cache_read;
            }
            s.cost_micro_usd += row.cost_micro_usd.unwrap_or(0);
            s.unpriced += u64::from(row.unpriced);
            observe(&mut s.duration_buckets, row.duration_ms);
            s.duration_sum_ms += row.duration_ms;
            if let Some(fb) = row.first_byte_ms {
                observe(&mut s.first_byte_buckets, fb);
                s.first_byte_sum_ms += fb;
                s.first_byte_count += 1;
            }
        }
        if failed || row.attempt_log.iter().any(|a| a.outcome != "ok") {
            let mut kinds = lock(&self.errors_by_kind);
            for a in row.attempt_log.iter().filter(|a| a.outcome != "ok") {
                *kinds.entry(a.outcome.clone()).or_default() += 1;
            }
            if failed && row.attempt_log.is_empty() {
                *kinds.entry(format!("gateway_{}", row.status)).or_default() += 1;
            }
        }
    }

    /// Requests in flight, oldest first.
    pub fn active(&self) -> Vec<ActiveRequest> {
        let mut out: Vec<ActiveRequest> = lock(&self.active)
            .values()
            .map(|e| {
                let fb = e.first_byte_ms.load(Ordering::Relaxed);
                ActiveRequest {
                    id: e.id.clone(),
                    started_at_ms: e.started_at_ms,
                    client_protocol: e.client_protocol.to_owned(),
                    model: lock(&e.model).clone(),
                    channel: lock(&e.channel).clone(),
                    stream: e.stream.load(Ordering::Relaxed),
                    bytes: e.bytes.load(Ordering::Relaxed),
                    first_byte_ms: (fb > 0).then_some(fb),
                }
            })
            .collect();
        out.sort_by_key(|a| a.started_at_ms);
        out
    }

    /// Counters per (channel, model).
    pub fn series(&self) -> Vec<Series> {
        let mut out: Vec<Series> = lock(&self.series).values().cloned().collect();
        out.sort_by(|a, b| (&a.channel, &a.model).cmp(&(&b.channel, &b.model)));
        out
    }

    /// Failed attempts by outcome kind.
    pub fn errors_by_kind(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = lock(&self.errors_by_kind)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_requests_leave_the_active_list_and_count() {
        let o = Observer::default();
        let e = o.start("r1", 10, "anthropic");
        e.bytes.fetch_add(5, Ordering::Relaxed);
        assert_eq!(o.active()[0].bytes, 5);
        let row = RequestLog {
            request_id: "r1".to_owned(),
            model_requested: "m".to_owned(),
            channel_name: Some("c".to_owned()),
            status: 200,
            duration_ms: 120,
            first_byte_ms: Some(30),
            ..RequestLog::default()
        };
        o.finish(&row, true);
        assert!(o.active().is_empty());
        let s = &o.series()[0];
        assert_eq!((s.requests, s.errors), (1, 0));
        // 120 ms falls in the 250 ms bucket and above; 30 ms in the 50 ms bucket and above.
        assert_eq!(s.duration_buckets[2], 0);
        assert_eq!(s.duration_buckets[3], 1);
        assert_eq!(s.first_byte_buckets[1], 1);
        assert_eq!(*s.duration_buckets.last().unwrap(), 1);
    }
}
