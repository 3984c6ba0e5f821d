//! Time as Wharf stores and prints it: Unix milliseconds, civil UTC dates
//! and RFC 3339 timestamps.
//!
//! Kept by hand rather than with `time` or `jiff`: Wharf needs exactly
//! UTC days to dates (Howard Hinnant's `civil_from_days`, exact for every
//! day of the proleptic Gregorian calendar) and one timestamp format; a
//! date crate would add a dependency tree for two functions. Time zones,
//! which a crate would bring, are deliberately absent: schedules are UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Days since 1970-01-01 to (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2024-05-01T10:00:00Z` for Unix seconds.
pub fn rfc3339(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

/// Random factor in [0.5, 1.5) for backoff jitter.
pub fn jitter() -> f64 {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).expect("the OS random source works");
    0.5 + f64::from(u16::from_le_bytes(b)) / 65_536.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_around_the_edges() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(rfc3339(1_714_557_600), "2024-05-01T10:00:00Z");
    }
}
