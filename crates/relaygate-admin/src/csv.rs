//! Channels as CSV (RFC 4180), beside the JSON import and export: one row per channel, list
//! fields one item per line inside a quoted cell.
//!
//! Columns, in export order (import takes them in any order; `name`, `protocol`, `base_urls`,
//! `keys` and `models` are required, the rest have the JSON defaults):
//!
//! - `name`, `protocol`, `enabled` (`true`/`false`), `priority`, `weight`
//! - `base_urls`: one URL per line
//! - `keys`: one key per line
//! - `disabled_keys`: positions (from 0) in `keys` of the disabled keys, space-separated
//! - `models`: one per line, `name` or `name=>upstream` for a redirect
//! - `key_strategy`, `rpm_limit`, `max_concurrency`, `available_hours`
//!
//! Keys, URLs and model names never contain line breaks (the API refuses control characters),
//! so the line-per-item cells round-trip exactly.

use crate::api::{ChannelInput, KeyInput, ModelInput};
use crate::{Error, Result};

/// The columns, in export order.
pub const COLUMNS: &[&str] = &[
    "name",
    "protocol",
    "enabled",
    "priority",
    "weight",
    "base_urls",
    "keys",
    "disabled_keys",
    "models",
    "key_strategy",
    "rpm_limit",
    "max_concurrency",
    "available_hours",
];

/// What separates a model from its upstream name in the `models` cell.
const REDIRECT: &str = "=>";

fn cell(out: &mut String, value: &str) {
    if value.contains([',', '"', '\n', '\r']) || value.starts_with(' ') || value.ends_with(' ') {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// `text` as a CSV download named `filename`.
pub(crate) fn download(text: String, filename: &'static str) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let mut resp = text.into_response();
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        resp.headers_mut()
            .insert(http::header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// One CSV record (cells quoted where needed, CRLF line end).
pub(crate) fn row(out: &mut String, cells: &[String]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        cell(out, c);
    }
    out.push_str("\r\n");
}

/// Writes channels as CSV (header first, CRLF line ends). Fails only for a model name that
/// contains `=>`, which the `models` cell can't tell from a redirect.
pub fn write(channels: &[ChannelInput]) -> Result<String> {
    let mut out = String::new();
    row(
        &mut out,
        &COLUMNS.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>(),
    );
    for c in channels {
        let mut keys = Vec::new();
        let mut disabled = Vec::new();
        for (i, k) in c.keys.iter().flatten().enumerate() {
            match k {
                KeyInput::Plain(s) => keys.push(s.clone()),
                KeyInput::Full {
                    secret, enabled, ..
                } => {
                    keys.push(secret.clone().unwrap_or_default());
                    if !enabled {
                        disabled.push(i.to_string());
                    }
                }
            }
        }
        let mut models = Vec::new();
        for m in &c.models {
            let (name, upstream) = match m {
                ModelInput::Plain(n) => (n, None),
                ModelInput::Full { name, upstream } => (name, upstream.as_ref()),
            };
            if name.contains(REDIRECT) {
                return Err(Error::Conflict(format!(
                    "channel {:?}: model {name:?} contains {REDIRECT:?} and can't be written as CSV; use the JSON export",
                    c.name
                )));
            }
            models.push(match upstream {
                Some(u) => format!("{name}{REDIRECT}{u}"),
                None => name.clone(),
            });
        }
        row(
            &mut out,
            &[
                c.name.clone(),
                c.protocol.clone(),
                c.enabled.to_string(),
                c.priority.to_string(),
                c.weight.to_string(),
                c.base_urls.join("\n"),
                keys.join("\n"),
                disabled.join(" "),
                models.join("\n"),
                c.key_strategy.clone(),
                c.rpm_limit.to_string(),
                c.max_concurrency.to_string(),
                c.available_hours.clone().unwrap_or_default(),
            ],
        );
    }
    Ok(out)
}

/// Splits CSV text into records of cells (quotes, doubled quotes, CRLF or LF, a leading BOM).
/// Blank lines are skipped.
pub fn parse_records(text: &str) -> Result<Vec<Vec<String>>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut line = 1usize;
    let mut chars = text.chars().peekable();
    let bad = |line: usize, msg: &str| Error::BadRequest {
        field: Some("csv".to_owned()),
        message: format!("CSV line {line}: {msg}"),
    };
    let end_record = |record: &mut Vec<String>, records: &mut Vec<Vec<String>>| {
        let r = std::mem::take(record);
        if !(r.len() == 1 && r[0].is_empty()) {
            records.push(r);
        }
    };
    while let Some(ch) = chars.next() {
        if quoted {
            match ch {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    current.push('"');
                }
                '"' => quoted = false,
                c => {
                    if c == '\n' {
                        line += 1;
                    }
                    current.push(c);
                }
            }
            continue;
        }
        match ch {
            '"' if current.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            '"' => return Err(bad(line, "a quote inside an unquoted cell")),
            ',' => {
                record.push(std::mem::take(&mut current));
                was_quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                record.push(std::mem::take(&mut current));
                was_quoted = false;
                end_record(&mut record, &mut records);
                line += 1;
            }
            c if was_quoted => {
                return Err(bad(
                    line,
                    &format!("{c:?} after the closing quote of a cell"),
                ));
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err(bad(line, "a quoted cell is never closed"));
    }
    if !current.is_empty() || was_quoted || !record.is_empty() {
        record.push(current);
        end_record(&mut record, &mut records);
    }
    Ok(records)
}

fn lines(v: &str) -> Vec<String> {
    v.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_num<T: std::str::FromStr>(field: &str, v: &str) -> Result<T> {
    v.trim()
        .parse()
        .map_err(|_| Error::field(field, format!("{field} must be a number, got {v:?}")))
}

fn parse_bool(field: &str, v: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(Error::field(
            field,
            format!("{field} must be true or false, got {v:?}"),
        )),
    }
}

/// Reads channels from CSV text. Errors name the cell as `rows[N].column` (N from 0, the
/// header not counted).
pub fn read(text: &str) -> Result<Vec<ChannelInput>> {
    let mut records = parse_records(text)?.into_iter();
    let header: Vec<String> = records
        .next()
        .ok_or_else(|| Error::field("csv", "the CSV is empty (a header row is required)"))?
        .into_iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for (i, h) in header.iter().enumerate() {
        if !COLUMNS.contains(&h.as_str()) {
            return Err(Error::field(
                format!("columns[{i}]"),
                format!("unknown column {h:?}; known: {}", COLUMNS.join(", ")),
            ));
        }
        if header[..i].contains(h) {
            return Err(Error::field(
                format!("columns[{i}]"),
                format!("column {h:?} appears twice"),
            ));
        }
    }
    for required in ["name", "protocol", "base_urls", "keys", "models"] {
        if !header.iter().any(|h| h == required) {
            return Err(Error::field(
                required,
                format!("the CSV has no {required} column"),
            ));
        }
    }
    let mut out = Vec::new();
    for (n, rec) in records.enumerate() {
        if rec.len() != header.len() {
            return Err(Error::field(
                format!("rows[{n}]"),
                format!(
                    "rows[{n}] has {} cells, the header {}",
                    rec.len(),
                    header.len()
                ),
            ));
        }
        let get = |col: &str| -> Option<&str> {
            header
                .iter()
                .position(|h| h == col)
                .and_then(|i| rec.get(i))
                .map(String::as_str)
        };
        let f = |col: &str| format!("rows[{n}].{col}");
        let keys = lines(get("keys").unwrap_or(""));
        let mut disabled = Vec::new();
        for d in get("disabled_keys").unwrap_or("").split([' ', ',', '\n']) {
            if d.trim().is_empty() {
                continue;
            }
            let i: usize = parse_num(&f("disabled_keys"), d)?;
            if i >= keys.len() {
                return Err(Error::field(
                    f("disabled_keys"),
                    format!("{}: no key at position {i}", f("disabled_keys")),
                ));
            }
            disabled.push(i);
        }
        let models = lines(get("models").unwrap_or(""))
            .into_iter()
            .map(|m| match m.split_once(REDIRECT) {
                Some((name, up)) => ModelInput::Full {
                    name: name.trim().to_owned(),
                    upstream: Some(up.trim().to_owned()),
                },
                None => ModelInput::Plain(m),
            })
            .collect();
        let opt = |col: &str| get(col).map(str::trim).filter(|v| !v.is_empty());
        out.push(ChannelInput {
            name: get("name").unwrap_or("").trim().to_owned(),
            protocol: get("protocol").unwrap_or("").trim().to_owned(),
            base_urls: lines(get("base_urls").unwrap_or("")),
            keys: Some(
                keys.into_iter()
                    .enumerate()
                    .map(|(i, k)| KeyInput::Full {
                        secret: Some(k),
                        keep: None,
                        enabled: !disabled.contains(&i),
                    })
                    .collect(),
            ),
            models,
            priority: opt("priority")
                .map(|v| parse_num(&f("priority"), v))
                .transpose()?
                .unwrap_or(0),
            weight: opt("weight")
                .map(|v| parse_num(&f("weight"), v))
                .transpose()?
                .unwrap_or(1),
            enabled: opt("enabled")
                .map(|v| parse_bool(&f("enabled"), v))
                .transpose()?
                .unwrap_or(true),
            key_strategy: opt("key_strategy").unwrap_or("sequential").to_owned(),
            rpm_limit: opt("rpm_limit")
                .map(|v| parse_num(&f("rpm_limit"), v))
                .transpose()?
                .unwrap_or(0),
            max_concurrency: opt("max_concurrency")
                .map(|v| parse_num(&f("max_concurrency"), v))
                .transpose()?
                .unwrap_or(0),
            available_hours: opt("available_hours").map(str::to_owned),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn sample() -> Vec<ChannelInput> {
        vec![
            ChannelInput {
                name: "main, \"quoted\"".to_owned(),
                protocol: "anthropic".to_owned(),
                base_urls: vec![
                    "https://a.example".to_owned(),
                    "https://b.example/v1".to_owned(),
                ],
                keys: Some(vec![
                    KeyInput::Full {
                        secret: Some("sk-1,2".to_owned()),
                        keep: None,
                        enabled: true,
                    },
                    KeyInput::Full {
                        secret: Some("sk \"3\"".to_owned()),
                        keep: None,
                        enabled: false,
                    },
                ]),
                models: vec![
                    ModelInput::Plain("claude-x".to_owned()),
                    ModelInput::Full {
                        name: "fast".to_owned(),
                        upstream: Some("claude-haiku".to_owned()),
                    },
                ],
                priority: -3,
                weight: 7,
                enabled: false,
                key_strategy: "round_robin".to_owned(),
                rpm_limit: 60,
                max_concurrency: 4,
                available_hours: Some("22:00-06:00".to_owned()),
            },
            ChannelInput {
                name: "plain".to_owned(),
                protocol: "gemini".to_owned(),
                base_urls: vec!["https://g.example".to_owned()],
                keys: Some(vec![KeyInput::Full {
                    secret: Some("k".to_owned()),
                    keep: None,
                    enabled: true,
                }]),
                models: vec![ModelInput::Plain("gemini-x".to_owned())],
                priority: 0,
                weight: 1,
                enabled: true,
                key_strategy: "sequential".to_owned(),
                rpm_limit: 0,
                max_concurrency: 0,
                available_hours: None,
            },
        ]
    }

    #[test]
    fn write_then_read_is_identity() {
        let text = write(&sample()).unwrap();
        assert_eq!(read(&text).unwrap(), sample());
        assert_eq!(write(&read(&text).unwrap()).unwrap(), text);
        // LF line ends and a BOM read the same.
        let lf = format!("\u{feff}{}", text.replace("\r\n", "\n"));
        assert_eq!(read(&lf).unwrap(), sample());
    }

    #[test]
    fn columns_in_any_order_with_defaults() {
        let text =
            "models,keys,protocol,name,base_urls\n\"m1\nm2\",k1,openai,x,https://x.example\n";
        let got = read(text).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].weight, 1);
        assert!(got[0].enabled);
        assert_eq!(got[0].base_urls, ["https://x.example"]);
        assert_eq!(got[0].models.len(), 2);
    }

    #[test]
    fn bad_csv_names_the_cell() {
        let field = |text: &str| match read(text) {
            Err(Error::BadRequest { field, .. }) => field.unwrap_or_default(),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(""), "csv");
        assert_eq!(field("name,bogus\n"), "columns[1]");
        assert_eq!(field("name,protocol,base_urls,keys\n"), "models");
        assert_eq!(
            field("name,protocol,base_urls,keys,models,weight\nx,openai,https://x,k,m,heavy\n"),
            "rows[0].weight"
        );
        assert_eq!(
            field("name,protocol,base_urls,keys,models\nx,openai\n"),
            "rows[0]"
        );
        assert_eq!(field("name,protocol\n\"x,openai\n"), "csv");
        assert_eq!(
            field("name,protocol,base_urls,keys,models,disabled_keys\nx,openai,https://x,k,m,3\n"),
            "rows[0].disabled_keys"
        );
    }

    #[test]
    fn a_model_name_with_the_redirect_arrow_is_refused() {
        let mut c = sample();
        c[1].models = vec![ModelInput::Plain("a=>b".to_owned())];
        assert!(matches!(write(&c), Err(Error::Conflict(_))));
    }
}
