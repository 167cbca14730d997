//! The `Date` header value, rendered at most once a second per thread.
//!
//! Every response carries `date: Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 IMF-fixdate). Formatting
//! a date costs more than the rest of a small response head, so each thread keeps the last
//! rendering and the span of monotonic time (`Instant`s) its second covers. A batch of responses
//! then costs one `Instant::now()` and a compare; the wall clock (`SystemTime`) is read only
//! when that second is over, which also picks up any change of the wall clock within a second.
//! The connection reuses the same `Instant` as the start of its idle period, so serving a
//! keep-alive request reads the clock once, not twice.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate.
pub(crate) const DATE_LEN: usize = 29;

/// One thread's rendering of the current second.
struct Cached {
    /// The monotonic instants the rendered second spans: `[from, until)`.
    from: Instant,
    /// End of the span (exclusive).
    until: Instant,
    /// The rendered date for that second.
    date: [u8; DATE_LEN],
}

thread_local! {
    /// This thread's current second, once something asked for the date.
    static CACHE: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

/// The current date, from this thread's cache (re-rendered when the second changes).
pub(crate) fn now() -> [u8; DATE_LEN] {
    now_with_instant().0
}

/// The current date and the `Instant` it was read at.
pub(crate) fn now_with_instant() -> ([u8; DATE_LEN], Instant) {
    let now = Instant::now();
    let date = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        match &*c {
            Some(cached) if cached.from <= now && now < cached.until => cached.date,
            _ => {
                // A new second (or the first call): read the wall clock and render it. The
                // span is where this wall-clock second falls on the monotonic clock.
                let since_epoch = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or(Duration::ZERO);
                let into_second = Duration::from_nanos(u64::from(since_epoch.subsec_nanos()));
                let from = now.checked_sub(into_second).unwrap_or(now);
                let cached = Cached {
                    from,
                    until: from + Duration::from_secs(1),
                    date: render(since_epoch.as_secs()),
                };
                let date = cached.date;
                *c = Some(cached);
                date
            }
        }
    });
    (date, now)
}

/// Formats a unix time as an IMF-fixdate.
pub(crate) fn render(unix: u64) -> [u8; DATE_LEN] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    let mut out = [0u8; DATE_LEN];
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    out[3..5].copy_from_slice(b", ");
    two(&mut out[5..7], day as u64);
    out[7] = b' ';
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    out[11] = b' ';
    let y = year as u64;
    two(&mut out[12..14], y / 100);
    two(&mut out[14..16], y % 100);
    out[16] = b' ';
    two(&mut out[17..19], secs / 3600);
    out[19] = b':';
    two(&mut out[20..22], secs / 60 % 60);
    out[22] = b':';
    two(&mut out[23..25], secs % 60);
    out[25..].copy_from_slice(b" GMT");
    out
}

fn two(dst: &mut [u8], v: u64) {
    dst[0] = b'0' + (v / 10 % 10) as u8;
    dst[1] = b'0' + (v % 10) as u8;
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian calendar.
/// The algorithm counts 400-year eras starting on March 1st, where leap days fall at the end.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468; // shift the epoch to 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_known_dates() {
        let table: &[(u64, &str)] = &[
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"), // RFC 9110's example
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_700_000_000, "Tue, 14 Nov 2023 22:13:20 GMT"),
            (4_102_444_799, "Thu, 31 Dec 2099 23:59:59 GMT"),
        ];
        for &(t, want) in table {
            assert_eq!(std::str::from_utf8(&render(t)).unwrap(), want, "unix {t}");
        }
    }

    /// The cached date is the wall clock's: it equals a fresh rendering of `SystemTime::now()`
    /// taken just before or just after it (one of the two, should a second end in between).
    #[test]
    fn cached_value_is_the_current_date() {
        let wall = || {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            render(secs)
        };
        for _ in 0..1000 {
            let before = wall();
            let (cached, _) = now_with_instant();
            let after = wall();
            assert!(
                cached == before || cached == after,
                "{:?} is neither {:?} nor {:?}",
                std::str::from_utf8(&cached),
                std::str::from_utf8(&before),
                std::str::from_utf8(&after)
            );
        }
    }
}
