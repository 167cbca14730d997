//! Formats a time as an HTTP `date` header value (RFC 9110 "IMF-fixdate",
//! e.g. `Sun, 06 Nov 1994 08:49:37 GMT`).
//!
//! Used once at startup by [`crate::tokio_minimal`], so its fixed response carries a `date`
//! header of the same length as hyper's and spindle's. Pure arithmetic, no time-zone database:
//! HTTP dates are always UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Weekday names, indexed from Sunday = 0.
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
/// Month names, indexed from January = 0.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `time` as an IMF-fixdate string. Times before 1970 are clamped to the epoch.
pub(crate) fn format(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let secs_of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday (index 4 counting from Sunday).
    let weekday = WEEKDAYS[((days + 4) % 7) as usize];
    format!(
        "{weekday}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        MONTHS[(month - 1) as usize],
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

/// (year, month 1..=12, day 1..=31) of the day `days` after 1970-01-01 in the Gregorian calendar.
///
/// Works in 400-year "eras" that start on 1 March, so the leap day is the last day of the
/// year and month lengths repeat every five months from March (31, 30, 31, 30, 31).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the origin from 1970-01-01 to 0000-03-01 (719,468 days earlier).
    let z = days + 719_468;
    let era = z / 146_097; // days per 400 years
    let day_of_era = z % 146_097;
    // Year within the era: take out the leap days (one per 4 years, none per 100, one per 400).
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Month counted from March = 0; 153 days per five months.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Known instants format as their calendar dates: (seconds since epoch, expected).
    #[test]
    fn format_table() {
        let cases = [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_709_164_800, "Thu, 29 Feb 2024 00:00:00 GMT"),
            (1_735_689_599, "Tue, 31 Dec 2024 23:59:59 GMT"),
            (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 GMT"),
        ];
        for (secs, expected) in cases {
            let got = format(UNIX_EPOCH + Duration::from_secs(secs));
            assert_eq!(got, expected, "seconds {secs}");
        }
    }
}
