//! Dates without a date library: now, calendar dates from days since the
//! Unix epoch and back (Howard Hinnant's algorithms), RFC 3339 and HTTP
//! dates. Connectors meet many date formats; these are the conversions
//! they share.

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The calendar date (year, month, day) of a day number (days since
/// 1970-01-01).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The day number of a calendar date.
pub fn days(year: i64, month: u32, day: u32) -> i64 {
    let (y, m) = if month <= 2 {
        (year - 1, i64::from(month) + 9)
    } else {
        (year, i64::from(month) - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + i64::from(day) - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// `YYYY-MM-DD` of Unix seconds (UTC).
pub fn date(secs: i64) -> String {
    let (y, m, d) = civil(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// RFC 3339 of Unix seconds (UTC, `Z`).
///
/// ```
/// assert_eq!(wharf_sdk::time::rfc3339(1_444_756_055), "2015-10-13T17:07:35Z");
/// ```
pub fn rfc3339(secs: i64) -> String {
    let rem = secs.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date(secs),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Unix seconds of an HTTP date (`Tue, 13 Oct 2015 17:07:45 GMT`).
///
/// ```
/// assert_eq!(wharf_sdk::time::from_http_date("Tue, 13 Oct 2015 17:07:45 GMT"), Some(1_444_756_065));
/// ```
pub fn from_http_date(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, _] = parts.as_slice() else {
        return None;
    };
    let m = MONTHS.iter().position(|x| x == month)? as u32 + 1;
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, s] = t.as_slice() else {
        return None;
    };
    Some(days(year.parse().ok()?, m, day.parse().ok()?) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Unix seconds of an RFC 3339 time in UTC (`2024-05-01T10:00:00Z`,
/// fractions ignored).
pub fn from_rfc3339_utc(text: &str) -> Option<i64> {
    let (d, t) = text.trim_end_matches('Z').split_once('T')?;
    let d: Vec<i64> = d
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<i64> = t
        .split('.')
        .next()?
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let ([y, m, day], [h, mi, s]) = (d.as_slice(), t.as_slice()) else {
        return None;
    };
    Some(
        days(*y, u32::try_from(*m).ok()?, u32::try_from(*day).ok()?) * 86_400
            + h * 3600
            + mi * 60
            + s,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for d in [-1, 0, 59, 60, 10_957, 20_000, 2_932_896] {
            let (y, m, day) = civil(d);
            assert_eq!(days(y, m, day), d);
        }
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(
            from_rfc3339_utc("2024-05-01T10:00:00Z"),
            Some(1_714_557_600)
        );
        assert_eq!(from_http_date("nonsense"), None);
    }
}
