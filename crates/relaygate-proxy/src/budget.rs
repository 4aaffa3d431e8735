//! Calendar periods, money arithmetic and reservation estimates for budgets. Periods are UTC.

/// The output a reservation assumes when the request sets no output limit (the request's
/// limit comes from `relaygate_protocol::peek`).
pub(crate) const DEFAULT_OUTPUT_CAP: u64 = 8_192;

/// Longest name used as is in a budget counter key; longer ones are replaced by their SHA-256
/// so every key fits the store's 191-byte key column.
const MAX_NAME_IN_KEY: usize = 100;

/// A token's or channel's name as it appears in budget counter keys.
fn key_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.len() <= MAX_NAME_IN_KEY {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(format!("#{}", crate::auth::hash_token(name)))
    }
}

/// The counters of a token's budgets: lifetime, the day and the month (`periods`).
pub(crate) fn token_keys(name: &str, (day, month): (u32, u32)) -> [String; 3] {
    let n = key_name(name);
    [
        format!("token:{n}:life"),
        format!("token:{n}:d:{day}"),
        format!("token:{n}:m:{month}"),
    ]
}

/// The counter of a channel's daily budget.
pub(crate) fn channel_day_key(name: &str, day: u32) -> String {
    format!("channel:{}:d:{day}", key_name(name))
}

/// `(YYYYMMDD, YYYYMM)` of the UTC day containing `now_ms`.
pub(crate) fn periods(now_ms: u64) -> (u32, u32) {
    let (y, m, d) = civil_from_days((now_ms / 86_400_000) as i64);
    let y = u32::try_from(y).unwrap_or(0);
    (y * 10_000 + m * 100 + d, y * 100 + m)
}

/// Seconds until the next UTC midnight.
pub(crate) fn seconds_to_next_day(now_ms: u64) -> u64 {
    let into_day = now_ms % 86_400_000;
    (86_400_000 - into_day).div_ceil(1000)
}

/// `micro × permille / 1000`, rounded half up, in integers.
pub(crate) fn apply_multiplier(micro: i64, permille: u32) -> i64 {
    let v = i128::from(micro) * i128::from(permille);
    i64::try_from((v + 500) / 1000).unwrap_or(i64::MAX)
}

/// `$1.23` for display.
pub(crate) fn usd(micro: i64) -> String {
    let (sign, m) = (if micro < 0 { "-" } else { "" }, micro.unsigned_abs());
    // Cents where that loses nothing a reader needs; all six decimals for sub-cent budgets,
    // which would otherwise read "$0.00 of $0.00".
    if m >= 10_000_000 || m % 10_000 == 0 {
        format!("{sign}${}.{:02}", m / 1_000_000, (m % 1_000_000) / 10_000)
    } else {
        format!("{sign}${}.{:06}", m / 1_000_000, m % 1_000_000)
    }
}

/// `(year, month, day)` of the UTC day containing `unix_ms` (negative before 1970).
pub fn utc_date(unix_ms: i64) -> (i64, u32, u32) {
    civil_from_days(unix_ms.div_euclid(86_400_000))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's method).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_money() {
        // 2026-11-30T06:00:00Z
        let t = 1_796_018_400_000;
        assert_eq!(periods(t), (20_261_130, 202_611));
        assert_eq!(periods(0), (19_700_101, 197_001));
        // 2024-02-29 (leap day) 12:00Z
        assert_eq!(periods(1_709_208_000_000), (20_240_229, 202_402));
        assert_eq!(seconds_to_next_day(t), 18 * 3600);
        assert_eq!(apply_multiplier(1_000, 1_500), 1_500);
        assert_eq!(apply_multiplier(3, 500), 2);
        assert_eq!(usd(1_234_567), "$1.234567");
        let long = "n".repeat(191);
        for k in token_keys(&long, (20261204, 202612)) {
            assert!(k.len() <= 191 && k.starts_with("token:#"), "{k}");
        }
        assert!(channel_day_key(&long, 20261204).len() <= 191);
        assert_eq!(token_keys("t", (1, 2))[1], "token:t:d:1");
        assert_eq!(usd(12_345_678), "$12.34");
        assert_eq!(usd(300), "$0.000300");
        assert_eq!(usd(2_500_000), "$2.50");
    }
}
