/// A daily availability window in minutes of the day, e.g. `22:00-06:00` (across midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyWindow {
    start: u16,
    end: u16,
}

impl DailyWindow {
    /// Parses `HH:MM-HH:MM`. Equal ends mean all day.
    pub fn parse(text: &str) -> Option<DailyWindow> {
        let (a, b) = text.trim().split_once('-')?;
        Some(DailyWindow {
            start: minutes(a)?,
            end: minutes(b)?,
        })
    }

    /// Whether `minute_of_day` (0..1440) is inside the window; the start is inside, the end
    /// is not.
    pub fn contains(&self, minute_of_day: u16) -> bool {
        let m = minute_of_day % 1440;
        match self.start.cmp(&self.end) {
            std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Less => m >= self.start && m < self.end,
            std::cmp::Ordering::Greater => m >= self.start || m < self.end,
        }
    }

    /// Minutes from `minute_of_day` until the window opens (0 when open).
    pub fn minutes_until_open(&self, minute_of_day: u16) -> u16 {
        if self.contains(minute_of_day) {
            0
        } else {
            (self.start + 1440 - minute_of_day % 1440) % 1440
        }
    }
}

fn minutes(hhmm: &str) -> Option<u16> {
    let (h, m) = hhmm.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_across_midnight() {
        let night = DailyWindow::parse("22:00-06:00").unwrap();
        for (m, inside) in [
            (22 * 60, true),
            (23 * 60 + 59, true),
            (0, true),
            (5 * 60 + 59, true),
            (6 * 60, false),
            (12 * 60, false),
        ] {
            assert_eq!(night.contains(m), inside, "minute {m}");
        }
        assert_eq!(night.minutes_until_open(20 * 60), 120);
        let day = DailyWindow::parse("09:30-17:00").unwrap();
        assert!(day.contains(9 * 60 + 30) && !day.contains(17 * 60) && !day.contains(0));
        assert_eq!(day.minutes_until_open(18 * 60), 15 * 60 + 30);
        assert!(DailyWindow::parse("00:00-00:00").unwrap().contains(777));
        for bad in ["25:00-01:00", "10-12", "", "10:60-11:00"] {
            assert!(DailyWindow::parse(bad).is_none(), "{bad}");
        }
    }
}
