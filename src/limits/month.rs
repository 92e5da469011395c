//! Calendar months in UTC, for monthly budgets: a month is a window like a minute is, numbered
//! from year 0 (`year * 12 + month - 1`), and it resets on the first of the next month.

/// (year, month 1..=12, day 1..) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
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

/// Days since 1970-01-01 of a calendar date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The month index of a unix time in milliseconds.
pub fn index(now_ms: u64) -> u64 {
    let (y, m, _) = civil((now_ms / 86_400_000) as i64);
    (y * 12 + i64::from(m) - 1) as u64
}

/// When month `index` starts, in unix milliseconds.
pub fn start_ms(index: u64) -> u64 {
    let (y, m) = ((index / 12) as i64, (index % 12) as u32 + 1);
    days_from_civil(y, m, 1).max(0) as u64 * 86_400_000
}

/// `YYYY-MM` of a month index.
pub fn label(index: u64) -> String {
    format!("{:04}-{:02}", index / 12, index % 12 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_start_and_end_on_calendar_days() {
        // 2026-05-31T23:59:59.999Z and the next millisecond.
        let end_of_may = days_from_civil(2026, 5, 31) as u64 * 86_400_000 + 86_399_999;
        assert_eq!(label(index(end_of_may)), "2026-05");
        assert_eq!(label(index(end_of_may + 1)), "2026-06");
        assert_eq!(
            start_ms(index(end_of_may)),
            days_from_civil(2026, 5, 1) as u64 * 86_400_000
        );
        assert_eq!(start_ms(index(end_of_may) + 1), end_of_may + 1);
        // Leap years, December to January.
        assert_eq!(civil(days_from_civil(2028, 2, 29)), (2028, 2, 29));
        assert_eq!(label(index(start_ms(2026 * 12 + 11) + 1)), "2026-12");
        assert_eq!(label(2026 * 12 + 12), "2027-01");
        assert_eq!(civil(0), (1970, 1, 1));
        for d in [-1000, 0, 59, 10_957, 20_000, 100_000] {
            let (y, m, dd) = civil(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
