//! TIME arguments: RFC 3339, dates, relative spans and words, like journalctl.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

/// Parses a time into nanoseconds since the Unix epoch.
///
/// Accepted: RFC 3339 (`2026-11-21T10:00:00Z`, `2026-11-21T10:00:00+01:00`), a local
/// date or date and time (`2026-11-21`, `2026-11-21 10:00`, `2026-11-21 10:00:05`),
/// `@SECONDS` since the epoch, `now`, `today`, `yesterday`, `tomorrow` (local
/// midnight), and spans back from now: `90s`, `10m`, `2h`, `3d`, `1w`, optionally
/// written `-10m` or `10m ago`. Dates, times and words are read in UTC when `utc` is
/// set, in the local time zone otherwise (as journalctl does; `--utc` switches).
pub fn parse_time_in(text: &str, utc: bool) -> Result<i64, String> {
    let now = Zoned::now();
    let now = if utc {
        now.with_time_zone(TimeZone::UTC)
    } else {
        now
    };
    parse_at(text, &now)
}

/// The zone times are shown in: UTC with `utc`, else the local one.
pub fn zone(utc: bool) -> TimeZone {
    if utc {
        TimeZone::UTC
    } else {
        TimeZone::system()
    }
}

/// A short name of the zone times are shown in, for headers: `UTC`, or the local
/// zone's current offset (`UTC+01:00`).
pub fn zone_label(utc: bool) -> String {
    let offset = Timestamp::now().to_zoned(zone(utc)).offset();
    if offset.seconds() == 0 {
        "UTC".to_string()
    } else {
        format!("UTC{offset}")
    }
}

/// `ns` shown with strftime `pattern` in the zone `utc` picks (the RFC 3339 form when
/// the time is out of range).
pub fn format_in(ns: i64, utc: bool, pattern: &str) -> String {
    match Timestamp::from_nanosecond(i128::from(ns)) {
        Ok(ts) => ts.to_zoned(zone(utc)).strftime(pattern).to_string(),
        Err(_) => vexfs_journal::json::format_time(ns),
    }
}

/// `ns` as `2026-11-21 10:00:00 UTC` or with the local offset, for messages.
pub fn show(ns: i64, utc: bool) -> String {
    format_in(ns, utc, "%Y-%m-%d %H:%M:%S%.f %:z")
}

fn ns(t: Timestamp) -> Result<i64, String> {
    i64::try_from(t.as_nanosecond()).map_err(|_| "time out of range".to_string())
}

/// [`parse_time_in`] relative to `now` (for tests).
pub fn parse_at(text: &str, now: &Zoned) -> Result<i64, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "cannot read {text:?} as a time: use RFC 3339 (2026-11-21T10:00:00Z), a date \
             (2026-11-21 or \"2026-11-21 10:00\"), @SECONDS, now, today, yesterday, or a span \
             back from now like 10m, 2h, 3d"
        )
    };
    let midnight = |days: i64| -> Result<i64, String> {
        let date = now
            .date()
            .checked_add(days.days())
            .map_err(|e| e.to_string())?;
        let z = date
            .to_zoned(now.time_zone().clone())
            .map_err(|e| e.to_string())?;
        ns(z.timestamp())
    };
    match t {
        "now" => return ns(now.timestamp()),
        "today" => return midnight(0),
        "yesterday" => return midnight(-1),
        "tomorrow" => return midnight(1),
        _ => {}
    }
    if let Some(secs) = t.strip_prefix('@') {
        let s: i64 = secs.parse().map_err(|_| bad())?;
        return s.checked_mul(1_000_000_000).ok_or_else(bad);
    }
    if let Ok(ts) = t.parse::<Timestamp>() {
        return ns(ts);
    }
    let tz: TimeZone = now.time_zone().clone();
    if let Ok(dt) = t.replacen(' ', "T", 1).parse::<DateTime>() {
        return ns(dt.to_zoned(tz).map_err(|e| e.to_string())?.timestamp());
    }
    if let Ok(d) = t.parse::<Date>() {
        return ns(d.to_zoned(tz).map_err(|e| e.to_string())?.timestamp());
    }
    let span = t
        .strip_suffix("ago")
        .map(str::trim)
        .or_else(|| t.strip_prefix('-'))
        .unwrap_or(t);
    let back = vexfs_journal::json::parse_span(span).ok_or_else(bad)?;
    Ok(ns(now.timestamp())?.saturating_sub(back))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let now: Zoned = "2026-11-21T12:30:00+00:00[UTC]".parse().unwrap();
        let at = |s: &str| parse_at(s, &now).unwrap();
        let base = at("now");
        assert_eq!(at("2026-11-21T12:30:00Z"), base);
        assert_eq!(at("10m"), base - 600_000_000_000);
        assert_eq!(at("-10m"), at("10m"));
        assert_eq!(at("10m ago"), at("10m"));
        assert_eq!(at("2h"), base - 7_200_000_000_000);
        assert_eq!(at("today"), base - 45_000_000_000_000);
        assert_eq!(at("yesterday"), at("today") - 86_400_000_000_000);
        assert_eq!(at("2026-11-21"), at("today"));
        assert_eq!(at("2026-11-21 12:30"), base);
        assert_eq!(at("@1700000000"), 1_700_000_000_000_000_000);
        for bad in ["", "soon", "10x", "2026-13-01", "@x"] {
            assert!(parse_at(bad, &now).is_err(), "{bad}");
        }
    }
}
