//! `GET /admin/api/usage.csv`: usage and cost per client token per UTC day, for finance.
//!
//! Figures come from the same statistics as `/admin/api/stats` (raw rows and the hourly
//! aggregates kept after retention), so the export and the dashboard always agree. Reported
//! and estimated usage are separate columns; costs are exact decimal dollars.

use axum::extract::State;
use relaygate_store::{Bucket, GroupBy, StatsQuery};

use crate::body::Params;
use crate::{AppState, Error, Result, now_ms};

const DAY_MS: i64 = 86_400_000;

/// The columns, in order.
const HEADER: &[&str] = &[
    "date",
    "token_id",
    "token",
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "reported_cost_usd",
    "estimated_requests",
    "estimated_cost_usd",
    "unpriced_requests",
];

/// Micro-dollars as dollars with six decimals (`-0.000001` stays exact).
fn usd(micro: i64) -> String {
    let sign = if micro < 0 { "-" } else { "" };
    let m = micro.unsigned_abs();
    format!("{sign}{}.{:06}", m / 1_000_000, m % 1_000_000)
}

/// `YYYY-MM-DD` of the UTC day starting at `ms` (the calendar budgets use).
fn utc_date(ms: i64) -> String {
    let (year, month, day) = relaygate_proxy::utc_date(ms);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A text cell a spreadsheet will not run: a leading `=`, `+`, `-`, `@`, tab or carriage
/// return makes Excel and LibreOffice read a formula, so such a name is prefixed with `'`.
fn inert(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// `GET /admin/api/usage.csv?from=&to=` (unix ms; default the last 31 days).
pub(crate) async fn usage_csv(
    State(st): State<AppState>,
    p: Params,
) -> Result<axum::response::Response> {
    let to = p.i64("to")?.unwrap_or(now_ms() + 1);
    let from = p.i64("from")?.unwrap_or(to - 31 * DAY_MS);
    if from >= to {
        return Err(Error::field("from", "from must be before to"));
    }
    if to - from > 400 * DAY_MS {
        return Err(Error::field("from", "the window may span 400 days at most"));
    }
    let store = st.gateway.store();
    let rows = store
        .stats(StatsQuery {
            from_ms: from,
            to_ms: to,
            bucket: Bucket::Day,
            group_by: GroupBy::Token,
        })
        .await?;
    let names: std::collections::HashMap<String, String> = store
        .list_tokens()
        .await?
        .into_iter()
        .map(|t| (t.id.to_string(), t.name))
        .collect();
    let mut sorted: Vec<_> = rows.iter().collect();
    sorted.sort_by(|a, b| {
        (a.bucket_start_ms, a.key.parse::<i64>().unwrap_or(0))
            .cmp(&(b.bucket_start_ms, b.key.parse::<i64>().unwrap_or(0)))
    });
    let mut out = String::new();
    crate::csv::row(
        &mut out,
        &HEADER.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>(),
    );
    for r in sorted {
        let token = match (r.key.as_str(), names.get(&r.key)) {
            ("", _) => "(no token)".to_owned(),
            (_, Some(name)) => inert(name),
            (id, None) => format!("(deleted token {id})"),
        };
        crate::csv::row(
            &mut out,
            &[
                utc_date(r.bucket_start_ms),
                r.key.clone(),
                token,
                r.requests.to_string(),
                r.errors.to_string(),
                r.input_tokens.to_string(),
                r.output_tokens.to_string(),
                r.cache_read_tokens.to_string(),
                r.cache_write_tokens.to_string(),
                usd(r.cost_micro_usd),
                usd(r.cost_micro_usd.saturating_sub(r.estimated_cost_micro_usd)),
                r.estimated_requests.to_string(),
                usd(r.estimated_cost_micro_usd),
                r.unpriced.to_string(),
            ],
        );
    }
    Ok(crate::csv::download(out, "relaygate-usage.csv"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_dollars() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
        assert_eq!(utc_date(1_796_342_400_000), "2026-12-04");
        assert_eq!(utc_date(-DAY_MS), "1969-12-31");
        assert_eq!(usd(1_234_567), "1.234567");
        assert_eq!(usd(5), "0.000005");
        assert_eq!(usd(-5), "-0.000005");
    }

    #[test]
    fn formulas_are_inert() {
        assert_eq!(
            inert("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(inert("+1"), "'+1");
        assert_eq!(inert("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(inert("team-a"), "team-a");
    }
}
