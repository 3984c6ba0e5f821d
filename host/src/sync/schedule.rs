//! When a schedule is next due: fixed intervals, and five-field cron
//! expressions (minute, hour, day of month, month, day of week) in UTC,
//! with lists, ranges and steps.
//!
//! Cron is parsed here rather than with `croner` or `cron`: the five
//! classic fields in UTC are all Wharf offers (no seconds, years or time
//! zones, which those crates add and the API would then have to refuse),
//! the parser and the search for the next minute are small, and the tests
//! below pin their behaviour, including day-of-month OR day-of-week.

use crate::store::syncs::Schedule;

/// A parsed five-field cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Day of month and day of week both restricted: either may match
    /// (as in classic cron).
    either_day: bool,
}

/// A cron expression that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression `{expr}`: {reason}")]
pub struct CronError {
    expr: String,
    reason: String,
}

fn field(text: &str, min: u32, max: u32, name: &str) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let restricted = text != "*";
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .map_err(|_| format!("bad step in {name} `{part}`"))?,
            ),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("step 0 in {name}"));
        }
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let a = a
                .parse::<u32>()
                .map_err(|_| format!("bad {name} `{part}`"))?;
            let b = b
                .parse::<u32>()
                .map_err(|_| format!("bad {name} `{part}`"))?;
            (a, b)
        } else {
            let v = range
                .parse::<u32>()
                .map_err(|_| format!("bad {name} `{part}`"))?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("{name} `{part}` is outside {min}-{max}"));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok((bits, restricted))
}

impl Cron {
    /// Parse `m h dom mon dow`.
    pub fn parse(expr: &str) -> Result<Self, CronError> {
        let err = |reason: String| CronError {
            expr: expr.to_string(),
            reason,
        };
        let parts: Vec<&str> = expr.split_whitespace().collect();
        let [m, h, dom, mon, dow] = parts.as_slice() else {
            return Err(err(
                "expected five fields: minute hour day-of-month month day-of-week".into(),
            ));
        };
        let (minutes, _) = field(m, 0, 59, "minute").map_err(err)?;
        let (hours, _) = field(h, 0, 23, "hour").map_err(err)?;
        let (days, dom_restricted) = field(dom, 1, 31, "day of month").map_err(err)?;
        let (months, _) = field(mon, 1, 12, "month").map_err(err)?;
        let (mut weekdays, dow_restricted) = field(dow, 0, 7, "day of week").map_err(err)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1; // 7 is Sunday too
        }
        Ok(Self {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: (weekdays & 0x7f) as u8,
            either_day: dom_restricted && dow_restricted,
        })
    }

    /// The first matching minute strictly after `after_ms` (Unix ms, UTC).
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let mut minute = after_ms.div_euclid(60_000) + 1;
        // Four years of minutes covers every satisfiable expression
        // (29 February included).
        let mut day_checked = i64::MIN;
        for _ in 0..(4 * 366 * 24 * 60) {
            let days = minute.div_euclid(1440);
            if days != day_checked {
                day_checked = days;
                if !self.day_matches(days) {
                    minute = (days + 1) * 1440;
                    continue;
                }
            }
            let in_day = minute.rem_euclid(1440);
            let (h, m) = (in_day / 60, in_day % 60);
            if self.hours & (1 << h) == 0 {
                minute = days * 1440 + (h + 1) * 60;
                continue;
            }
            if self.minutes & (1 << m) != 0 {
                return Some(minute * 60_000);
            }
            minute += 1;
        }
        None
    }

    fn day_matches(&self, days: i64) -> bool {
        let (_, month, day) = crate::clock::civil_from_days(days);
        if self.months & (1 << month) == 0 {
            return false;
        }
        let weekday = (days + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday
        let dom = self.days & (1 << day) != 0;
        let dow = self.weekdays & (1 << weekday) != 0;
        if self.either_day {
            dom || dow
        } else {
            dom && dow
        }
    }
}

/// Check a schedule; the error says what is wrong.
pub fn validate(s: &Schedule) -> Result<(), String> {
    match s {
        Schedule::Every { every } if *every == 0 => Err("`every` must be at least 1 second".into()),
        Schedule::Every { .. } => Ok(()),
        Schedule::Cron { cron } => {
            let c = Cron::parse(cron).map_err(|e| e.to_string())?;
            c.next_after(0)
                .map(|_| ())
                .ok_or_else(|| format!("cron expression `{cron}` never matches"))
        }
    }
}

/// The next due time strictly after `now_ms`. After downtime this skips
/// every missed time: the caller enqueues one catch-up run for the time
/// that was due, not one per missed time.
pub fn next_due(s: &Schedule, now_ms: i64) -> Option<i64> {
    match s {
        Schedule::Every { every } => {
            let every = (*every as i64).max(1) * 1000;
            Some((now_ms.div_euclid(every) + 1) * every)
        }
        Schedule::Cron { cron } => Cron::parse(cron).ok()?.next_after(now_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    // 2024-03-01T00:00:00Z, a Friday.
    const T0: i64 = 1_709_251_200_000;

    #[test]
    fn cron_fields() {
        let c = Cron::parse("*/15 * * * *").unwrap();
        assert_eq!(c.next_after(T0), Some(T0 + 15 * MIN));
        assert_eq!(c.next_after(T0 + 14 * MIN + 59_000), Some(T0 + 15 * MIN));
        let c = Cron::parse("30 9 * * 1-5").unwrap();
        // Friday 09:30, then Monday 09:30.
        assert_eq!(c.next_after(T0), Some(T0 + (9 * 60 + 30) * MIN));
        assert_eq!(
            c.next_after(T0 + 10 * 60 * MIN),
            Some(T0 + 3 * 1440 * MIN + (9 * 60 + 30) * MIN)
        );
        let c = Cron::parse("0 0 29 2 *").unwrap();
        assert_eq!(c.next_after(T0), Some(1_835_395_200_000), "29 Feb 2028");
        let c = Cron::parse("0 12 1 * 0").unwrap();
        // Day of month OR day of week: the 1st (a Friday) matches, then
        // Sunday the 3rd.
        assert_eq!(c.next_after(T0), Some(T0 + 12 * 60 * MIN));
        assert_eq!(
            c.next_after(T0 + 12 * 60 * MIN),
            Some(T0 + 2 * 1440 * MIN + 12 * 60 * MIN)
        );
        for bad in [
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "*/0 * * * *",
            "a * * * *",
            "0 0 31 2 *",
        ] {
            let r = Cron::parse(bad)
                .map_err(|e| e.to_string())
                .and_then(|_| validate(&Schedule::Cron { cron: bad.into() }));
            assert!(r.is_err(), "{bad}");
        }
    }

    #[test]
    fn intervals_align_and_skip_missed_times() {
        let s = Schedule::Every { every: 60 };
        assert_eq!(next_due(&s, T0), Some(T0 + MIN));
        assert_eq!(next_due(&s, T0 + 1), Some(T0 + MIN));
        assert_eq!(
            next_due(&s, T0 + 10 * MIN + 5),
            Some(T0 + 11 * MIN),
            "after downtime: the next future time only"
        );
        assert!(validate(&Schedule::Every { every: 0 }).is_err());
    }
}
