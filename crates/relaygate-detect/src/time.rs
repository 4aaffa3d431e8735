//! Parsers for the time values upstreams put in headers and bodies.
//!
//! All of them are hand-written, allocation-free where possible, and total: any input gives
//! `Some` value or `None`, never a panic or an overflow.

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (no range checks beyond the formula).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let m = i64::from(month);
    let d = i64::from(day);
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // 0..=399
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1; // 0..=365
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // 0..=146096
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Unix milliseconds of a civil date-time given in a zone `offset_minutes` east of UTC.
/// `None` when a field is out of range or the result is before 1970.
pub(crate) fn civil_to_unix_ms(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    offset_minutes: i64,
) -> Option<u64> {
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
        - offset_minutes * 60;
    u64::try_from(secs.checked_mul(1000)?).ok()
}

/// The unix ms of the next midnight in the zone `offset_minutes` east of UTC, after `now_ms`.
pub(crate) fn next_local_midnight_ms(now_ms: u64, offset_minutes: i32) -> u64 {
    let off = i64::from(offset_minutes) * 60_000;
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX / 2);
    let local = now.saturating_add(off);
    let next = (local.div_euclid(MS_PER_DAY) + 1)
        .saturating_mul(MS_PER_DAY)
        .saturating_sub(off);
    u64::try_from(next).unwrap_or(now_ms)
}

/// Unix ms of `hour:minute` tomorrow in the zone `offset_minutes` east of UTC.
pub(crate) fn tomorrow_at_ms(now_ms: u64, offset_minutes: i32, hour: u32, minute: u32) -> u64 {
    let midnight = next_local_midnight_ms(now_ms, offset_minutes);
    midnight.saturating_add((u64::from(hour) * 3600 + u64::from(minute) * 60) * 1000)
}

/// Reads a run of ASCII digits at the start of `s` (at most `max` of them).
fn digits(s: &[u8], min: usize, max: usize) -> Option<(u64, usize)> {
    let n = s
        .iter()
        .take(max)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if n < min {
        return None;
    }
    let v = s
        .iter()
        .take(n)
        .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'));
    Some((v, n))
}

fn small(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Finds the first `YYYY-MM-DD HH:MM:SS` (or with a `T`) in `text` and reads it as a local
/// time in the zone `offset_minutes` east of UTC.
pub(crate) fn find_local_datetime_ms(text: &str, offset_minutes: i32) -> Option<u64> {
    let b = text.as_bytes();
    let mut i = 0;
    while i + 19 <= b.len() {
        if let Some(ms) = b
            .get(i..)
            .and_then(|s| local_datetime_at(s, offset_minutes))
        {
            return Some(ms);
        }
        i += 1;
    }
    None
}

fn local_datetime_at(s: &[u8], offset_minutes: i32) -> Option<u64> {
    let (y, _) = digits(s, 4, 4)?;
    if s.get(4) != Some(&b'-') {
        return None;
    }
    let (mo, _) = digits(s.get(5..)?, 2, 2)?;
    if s.get(7) != Some(&b'-') {
        return None;
    }
    let (d, _) = digits(s.get(8..)?, 2, 2)?;
    if !matches!(s.get(10), Some(b' ' | b'T')) {
        return None;
    }
    let (h, _) = digits(s.get(11..)?, 2, 2)?;
    if s.get(13) != Some(&b':') {
        return None;
    }
    let (mi, _) = digits(s.get(14..)?, 2, 2)?;
    if s.get(16) != Some(&b':') {
        return None;
    }
    let (se, _) = digits(s.get(17..)?, 2, 2)?;
    civil_to_unix_ms(
        i64::try_from(y).ok()?,
        small(mo),
        small(d),
        small(h),
        small(mi),
        small(se),
        i64::from(offset_minutes),
    )
}

/// Parses an RFC 3339 timestamp (`2024-05-01T12:00:30Z`, `…30.25+08:00`) into unix ms.
///
/// Used for `anthropic-ratelimit-*-reset`. Fractions of a second are rounded up so a cooldown
/// never ends before the limit resets.
pub fn rfc3339_ms(value: &str) -> Option<u64> {
    let s = value.trim().as_bytes();
    let (y, _) = digits(s, 4, 4)?;
    let sep = |i: usize, c: u8| s.get(i).copied() == Some(c);
    if !sep(4, b'-') || !sep(7, b'-') || !sep(13, b':') || !sep(16, b':') {
        return None;
    }
    if !matches!(s.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (mo, _) = digits(s.get(5..)?, 2, 2)?;
    let (d, _) = digits(s.get(8..)?, 2, 2)?;
    let (h, _) = digits(s.get(11..)?, 2, 2)?;
    let (mi, _) = digits(s.get(14..)?, 2, 2)?;
    let (se, _) = digits(s.get(17..)?, 2, 2)?;
    let mut rest = s.get(19..)?;
    let mut frac_ms = 0u64;
    if rest.first() == Some(&b'.') {
        let n = rest
            .iter()
            .skip(1)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if n == 0 {
            return None;
        }
        // Milliseconds from the first three digits, rounded up by anything after them.
        let frac = rest.get(1..=n)?;
        let mut ms = 0u64;
        for i in 0..3 {
            ms = ms * 10 + frac.get(i).map_or(0, |b| u64::from(b - b'0'));
        }
        if frac.iter().skip(3).any(|b| *b != b'0') {
            ms += 1;
        }
        frac_ms = ms;
        rest = rest.get(1 + n..)?;
    }
    let offset: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), ..] => {
            let (oh, _) = digits(rest.get(1..)?, 2, 2)?;
            if rest.get(3) != Some(&b':') || rest.len() != 6 {
                return None;
            }
            let (om, _) = digits(rest.get(4..)?, 2, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let m = i64::try_from(oh * 60 + om).ok()?;
            if *sign == b'-' { -m } else { m }
        }
        _ => return None,
    };
    let base = civil_to_unix_ms(
        i64::try_from(y).ok()?,
        small(mo),
        small(d),
        small(h),
        small(mi),
        small(se),
        offset,
    )?;
    base.checked_add(frac_ms)
}

fn month_from_name(name: &str) -> Option<u32> {
    const NAMES: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = name.get(..3)?.to_ascii_lowercase();
    let idx = NAMES.iter().position(|n| *n == lower)?;
    u32::try_from(idx + 1).ok()
}

/// Parses an HTTP-date into unix ms: the IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`)
/// and the two obsolete forms RFC 9110 still asks recipients to accept (RFC 850
/// `Sunday, 06-Nov-94 08:49:37 GMT` and asctime `Sun Nov  6 08:49:37 1994`).
pub fn http_date_ms(value: &str) -> Option<u64> {
    let mut day = None;
    let mut month = None;
    let mut year = None;
    let mut hms = None;
    let mut tokens = 0;
    for tok in value.split([' ', ',', '-', '\t']).filter(|t| !t.is_empty()) {
        tokens += 1;
        if tokens > 8 {
            return None;
        }
        if tok.contains(':') {
            let mut parts = tok.split(':');
            let h: u32 = parts.next()?.parse().ok()?;
            let m: u32 = parts.next()?.parse().ok()?;
            let s: u32 = parts.next()?.parse().ok()?;
            if parts.next().is_some() || hms.is_some() {
                return None;
            }
            hms = Some((h, m, s));
        } else if tok.bytes().all(|b| b.is_ascii_digit()) {
            let v: u64 = tok.parse().ok()?;
            match tok.len() {
                1 | 2 if day.is_none() => day = Some(small(v)),
                2 if year.is_none() => year = Some(if v < 70 { 2000 + v } else { 1900 + v }),
                4 if year.is_none() => year = Some(v),
                _ => return None,
            }
        } else if let Some(m) = month_from_name(tok).filter(|_| tok.len() == 3) {
            if month.is_some() {
                return None;
            }
            month = Some(m);
        } else if tok.eq_ignore_ascii_case("GMT") || tok.eq_ignore_ascii_case("UTC") {
            // The zone is always GMT in an HTTP-date.
        } else if tok.len() >= 3 && tok.bytes().all(|b| b.is_ascii_alphabetic()) {
            // A weekday name; not checked against the date.
        } else {
            return None;
        }
    }
    let (h, mi, s) = hms?;
    civil_to_unix_ms(i64::try_from(year?).ok()?, month?, day?, h, mi, s, 0)
}

/// Parses a Go-style duration (`1s`, `6m0s`, `20ms`, `1h2m3.5s`, `59.409754061s`, `150us`)
/// into milliseconds, rounding up. A bare `0` is zero; negative durations are `None`.
///
/// OpenAI sends these in `x-ratelimit-reset-*`, and Gemini's `RetryInfo.retryDelay` uses the
/// same shape (`34.4s`).
pub fn go_duration_ms(value: &str) -> Option<u64> {
    let s = value.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total_ns: f64 = 0.0;
    while i < b.len() {
        let start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        let num: f64 = s.get(start..i)?.parse().ok()?;
        let ustart = i;
        while i < b.len() && !(b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        let unit_ns = match s.get(ustart..i)? {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total_ns += num * unit_ns;
    }
    if !total_ns.is_finite() || total_ns < 0.0 {
        return None;
    }
    // `as` saturates for floats; the cap keeps the value meaningful.
    Some((total_ns / 1e6).ceil().min(1e15) as u64)
}

/// Parses a plain number of seconds (`30`, `1.5`) into milliseconds, rounding up.
pub(crate) fn seconds_ms(value: &str) -> Option<u64> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let secs: f64 = v.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).ceil().min(1e15) as u64)
}

/// Parses a `Retry-After` value — delta seconds (`120`) or an HTTP-date — into the unix ms
/// at which the client may retry.
///
/// A date in the past gives `now_ms`. Fractional seconds (`1.5`), which some upstreams send
/// although RFC 9110 does not allow them, are accepted and rounded up to the millisecond.
pub fn retry_after_ms(value: &str, now_ms: u64) -> Option<u64> {
    if let Some(ms) = seconds_ms(value) {
        return Some(now_ms.saturating_add(ms));
    }
    http_date_ms(value).map(|t| t.max(now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_to_unix_ms(2024, 2, 30, 0, 0, 0, 0), None);
        assert_eq!(
            civil_to_unix_ms(2024, 2, 29, 0, 0, 0, 0),
            Some(1_709_164_800_000)
        );
    }

    #[test]
    fn midnight_in_offset() {
        // 2025-12-09 18:08:11 UTC+8 = 10:08:11 UTC; next Beijing midnight = 16:00 UTC.
        let now = civil_to_unix_ms(2025, 12, 9, 10, 8, 11, 0).unwrap_or_default();
        let want = civil_to_unix_ms(2025, 12, 9, 16, 0, 0, 0).unwrap_or_default();
        assert_eq!(next_local_midnight_ms(now, 480), want);
        assert_eq!(
            tomorrow_at_ms(now, 480, 8, 30),
            want + (8 * 3600 + 30 * 60) * 1000
        );
    }
}
