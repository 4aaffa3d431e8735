//! Prometheus `/metrics` (text format 0.0.4) from the gateway's counters since start, and the
//! `/healthz` and `/readyz` checks.

use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use relaygate_proxy::observe::LATENCY_BUCKETS_MS;

use crate::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Response {
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"status": "ok"})),
    )
        .into_response()
}

/// `GET /readyz`: 200 when the store answers a cheap query within one second, else 503.
pub async fn readyz(State(st): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(1), st.gateway.store().ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ready"})),
        )
            .into_response(),
        Ok(Err(e)) => not_ready(&e.to_string()),
        Err(_) => not_ready("the store did not answer within 1 s"),
    }
}

fn not_ready(why: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(serde_json::json!({"status": "unavailable", "error": why})),
    )
        .into_response()
}

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, labels: &str, buckets: &[u64], sum_ms: u64, count: u64) {
    if buckets.is_empty() {
        return;
    }
    for (i, bound) in LATENCY_BUCKETS_MS.iter().enumerate() {
        let le = *bound as f64 / 1000.0;
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels},le=\"{le}\"}} {}",
            buckets.get(i).copied().unwrap_or(0)
        );
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels},le=\"+Inf\"}} {}",
        buckets.last().copied().unwrap_or(0)
    );
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", sum_ms as f64 / 1000.0);
    let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
}

/// Renders every metric.
pub fn render(st: &AppState) -> String {
    let mut out = String::new();
    let series = st.gateway.observer().series();
    let lbl = |s: &relaygate_proxy::observe::Series| {
        format!(
            "channel=\"{}\",model=\"{}\"",
            label(&s.channel),
            label(&s.model)
        )
    };
    head(
        &mut out,
        "relaygate_requests_total",
        "counter",
        "Client requests finished, by channel and model.",
    );
    for s in &series {
        let _ = writeln!(out, "relaygate_requests_total{{{}}} {}", lbl(s), s.requests);
    }
    head(
        &mut out,
        "relaygate_request_errors_total",
        "counter",
        "Client requests that failed (status >= 400 or an error).",
    );
    for s in &series {
        let _ = writeln!(
            out,
            "relaygate_request_errors_total{{{}}} {}",
            lbl(s),
            s.errors
        );
    }
    head(
        &mut out,
        "relaygate_attempt_failures_total",
        "counter",
        "Failed upstream attempts by outcome kind.",
    );
    for (kind, n) in st.gateway.observer().errors_by_kind() {
        let _ = writeln!(
            out,
            "relaygate_attempt_failures_total{{kind=\"{}\"}} {n}",
            label(&kind)
        );
    }
    head(
        &mut out,
        "relaygate_tokens_total",
        "counter",
        "Tokens by channel, model and type.",
    );
    for s in &series {
        for (ty, n) in [
            ("input", s.input_tokens),
            ("output", s.output_tokens),
            ("cache_read", s.cache_read_tokens),
        ] {
            let _ = writeln!(
                out,
                "relaygate_tokens_total{{{},type=\"{ty}\"}} {n}",
                lbl(s)
            );
        }
    }
    head(
        &mut out,
        "relaygate_cost_usd_total",
        "counter",
        "Cost of priced requests, US dollars.",
    );
    for s in &series {
        let _ = writeln!(
            out,
            "relaygate_cost_usd_total{{{}}} {}",
            lbl(s),
            s.cost_micro_usd as f64 / 1e6
        );
    }
    head(
        &mut out,
        "relaygate_unpriced_requests_total",
        "counter",
        "Requests whose model has no price.",
    );
    for s in &series {
        let _ = writeln!(
            out,
            "relaygate_unpriced_requests_total{{{}}} {}",
            lbl(s),
            s.unpriced
        );
    }
    head(
        &mut out,
        "relaygate_request_duration_seconds",
        "histogram",
        "From arrival to the end of the response.",
    );
    for s in &series {
        histogram(
            &mut out,
            "relaygate_request_duration_seconds",
            &lbl(s),
            &s.duration_buckets,
            s.duration_sum_ms,
            s.requests,
        );
    }
    head(
        &mut out,
        "relaygate_first_byte_seconds",
        "histogram",
        "From arrival to the first body byte sent to the client.",
    );
    for s in &series {
        histogram(
            &mut out,
            "relaygate_first_byte_seconds",
            &lbl(s),
            &s.first_byte_buckets,
            s.first_byte_sum_ms,
            s.first_byte_count,
        );
    }
    head(
        &mut out,
        "relaygate_in_flight_requests",
        "gauge",
        "Requests in flight, by channel and model.",
    );
    let mut inflight: std::collections::BTreeMap<(String, String), u64> =
        std::collections::BTreeMap::new();
    let table = st.gateway.table();
    for a in st.gateway.active_requests() {
        // Label values stay bounded: a model the routing table does not serve is `other`.
        let model = if table.serves(&a.model) {
            a.model
        } else {
            relaygate_proxy::OTHER_MODEL.to_owned()
        };
        *inflight
            .entry((a.channel.unwrap_or_else(|| "none".to_owned()), model))
            .or_default() += 1;
    }
    for ((c, m), n) in inflight {
        let _ = writeln!(
            out,
            "relaygate_in_flight_requests{{channel=\"{}\",model=\"{}\"}} {n}",
            label(&c),
            label(&m)
        );
    }
    head(
        &mut out,
        "relaygate_cooldowns",
        "gauge",
        "Targets cooling now, by channel and scope.",
    );
    let mut cooling: std::collections::BTreeMap<(i64, &'static str), u64> =
        std::collections::BTreeMap::new();
    for c in st.gateway.cooldowns() {
        *cooling.entry((c.channel_id, c.scope)).or_default() += 1;
    }
    for ((id, scope), n) in cooling {
        let _ = writeln!(
            out,
            "relaygate_cooldowns{{channel_id=\"{id}\",scope=\"{scope}\"}} {n}"
        );
    }
    head(
        &mut out,
        "relaygate_refused_requests_total",
        "counter",
        "Requests refused before authentication, by reason.",
    );
    for (reason, n) in st.gateway.observer().refused_by_reason() {
        let _ = writeln!(
            out,
            "relaygate_refused_requests_total{{reason=\"{reason}\"}} {n}"
        );
    }
    head(
        &mut out,
        "relaygate_refused_log_rows_dropped_total",
        "counter",
        "Log rows of refused requests not written because the per-minute caps were reached.",
    );
    let _ = writeln!(
        out,
        "relaygate_refused_log_rows_dropped_total {}",
        st.gateway.observer().refused_rows_dropped()
    );
    let q = st.gateway.store().queue_stats();
    for (name, kind, help, value) in [
        (
            "relaygate_log_queue_rows",
            "gauge",
            "Log rows accepted and not yet written.",
            q.queued_rows,
        ),
        (
            "relaygate_log_queue_bytes",
            "gauge",
            "Approximate bytes of the queued log rows.",
            q.queued_bytes,
        ),
        (
            "relaygate_log_queue_overflow_rows_total",
            "counter",
            "Log rows that found the queue full and took the back-pressure path (SQLite overflow list, MySQL spool).",
            q.overflow_rows,
        ),
        (
            "relaygate_log_spooled_rows_total",
            "counter",
            "Log rows written to the on-disk spool (MySQL).",
            q.spooled_rows,
        ),
        (
            "relaygate_log_dropped_rows_total",
            "counter",
            "Log rows lost (store closed, or the back-pressure path full too); each is also logged as an error.",
            q.dropped_rows,
        ),
    ] {
        head(&mut out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
    out
}

/// `GET /metrics`.
pub async fn metrics(State(st): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&st),
    )
        .into_response()
}
