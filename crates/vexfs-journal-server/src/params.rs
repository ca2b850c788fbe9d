//! The query string of `GET /events`.

use std::str::FromStr;

use vexfs_journal::{Category, EventType, Query};

use crate::error::ServerError;

/// Parsed parameters of `GET /events`.
#[derive(Clone, Debug, Default)]
pub struct EventsParams {
    /// The filter (types, categories, path prefix, agent, transaction, time range).
    pub query: Query,
    /// Most events to send.
    pub limit: Option<usize>,
    /// Keep the stream open and send new events as they arrive.
    pub follow: bool,
    /// Start right after this cursor (a `Last-Event-ID` header overrides it).
    pub after: Option<String>,
    /// Start with the last N matching events (0: only new ones), like `tail -n`.
    pub tail: Option<usize>,
}

fn bad(name: &str, value: &str, reason: impl Into<String>) -> ServerError {
    ServerError::BadParam {
        name: name.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// Comma-separated names, each parsed with `T::from_str`.
fn list<T: FromStr>(name: &str, value: &str, what: &str) -> Result<Vec<T>, ServerError> {
    value
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| bad(name, s, format!("not {what}")))
        })
        .collect()
}

/// RFC 3339 text or nanoseconds since the epoch, as the facade's JSON reads times.
fn time(name: &str, value: &str) -> Result<i64, ServerError> {
    let json = match value.parse::<i64>() {
        Ok(n) => serde_json::Value::from(n),
        Err(_) => serde_json::Value::from(value),
    };
    vexfs_journal::json::parse_time(name, &json).map_err(|e| bad(name, value, e.to_string()))
}

impl EventsParams {
    /// Parses the query string's pairs; repeated `type` and `category` add up, any
    /// other repeat is refused, and so is an unknown name.
    pub fn parse(pairs: &[(String, String)]) -> Result<EventsParams, ServerError> {
        let mut p = EventsParams::default();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            let (name, value) = (name.as_str(), value.as_str());
            if !matches!(name, "type" | "category") {
                if seen.contains(&name) {
                    return Err(bad(name, value, "given more than once"));
                }
                seen.push(name);
            }
            match name {
                "type" => p
                    .query
                    .types
                    .extend(list::<EventType>(name, value, "an event type")?),
                "category" => {
                    p.query
                        .categories
                        .extend(list::<Category>(name, value, "a category")?);
                }
                "path_prefix" => p.query.path_prefix = Some(value.into()),
                "agent" => p.query.agent = Some(value.into()),
                "tx" => {
                    p.query.tx = Some(
                        value
                            .parse()
                            .map_err(|_| bad(name, value, "not a transaction id"))?,
                    );
                }
                "since" => p.query.since_ns = Some(time(name, value)?),
                "until" => p.query.until_ns = Some(time(name, value)?),
                "limit" => match value.parse::<usize>() {
                    Ok(n) if n > 0 => p.limit = Some(n),
                    _ => return Err(bad(name, value, "not a positive integer")),
                },
                "follow" => {
                    p.follow = match value {
                        "1" | "true" | "yes" => true,
                        "0" | "false" | "no" => false,
                        _ => return Err(bad(name, value, "not 1 or 0")),
                    };
                }
                "after" => p.after = Some(value.to_owned()),
                "tail" => {
                    p.tail = Some(
                        value
                            .parse()
                            .map_err(|_| bad(name, value, "not a count of events"))?,
                    );
                }
                _ => return Err(bad(name, value, "unknown parameter")),
            }
        }
        if p.tail.is_some() && p.after.is_some() {
            return Err(bad("tail", "", "give either tail or after, not both"));
        }
        if let (Some(s), Some(u)) = (p.query.since_ns, p.query.until_ns)
            && s > u
        {
            return Err(bad("until", &u.to_string(), "before since"));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn parses_filters() {
        let p = EventsParams::parse(&pairs(&[
            ("category", "filesystem"),
            ("path_prefix", "/a"),
            ("limit", "5"),
            ("follow", "1"),
            ("since", "2024-01-01T00:00:00Z"),
        ]))
        .unwrap();
        assert_eq!(p.query.categories.len(), 1);
        assert_eq!(p.limit, Some(5));
        assert!(p.follow);
        assert!(p.query.since_ns.is_some());
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (name, value) in [
            ("type", "nope"),
            ("category", "nope"),
            ("limit", "x"),
            ("since", "yesterday-ish"),
            ("follow", "maybe"),
            ("bogus", "1"),
        ] {
            let e = EventsParams::parse(&pairs(&[(name, value)])).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(name) && text.contains(value), "{text}");
        }
    }
}

/// A gatewayd-style `Range: entries=<cursor>[:<skip>[:<n>]]` header: start after the
/// cursor (from the beginning when it is empty), skip `skip` more events, send at most
/// `n`. A negative skip (gatewayd's "back from the cursor") is refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntriesRange {
    /// The cursor text, if any.
    pub cursor: Option<String>,
    /// Matching events to pass over after the cursor.
    pub skip: usize,
    /// Most events to send.
    pub n: Option<usize>,
}

impl EntriesRange {
    /// Parses the header's value.
    pub fn parse(text: &str) -> Result<EntriesRange, ServerError> {
        const NAME: &str = "Range";
        let Some(spec) = text.trim().strip_prefix("entries=") else {
            return Err(bad(NAME, text, "expected entries=<cursor>[:<skip>[:<n>]]"));
        };
        let mut parts = spec.split(':');
        let cursor = parts
            .next()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        let skip = match parts.next().map(str::trim) {
            None | Some("") => 0,
            Some(s) => s.parse().map_err(|_| {
                bad(
                    NAME,
                    text,
                    format!("skip {s:?} is not a count of events (≥ 0)"),
                )
            })?,
        };
        let n = match parts.next().map(str::trim) {
            None | Some("") => None,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(bad(
                        NAME,
                        text,
                        format!("n {s:?} is not a positive integer"),
                    ));
                }
            },
        };
        if parts.next().is_some() {
            return Err(bad(NAME, text, "more than three fields"));
        }
        Ok(EntriesRange { cursor, skip, n })
    }
}

#[cfg(test)]
mod range_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn entries_forms() {
        let r = EntriesRange::parse("entries=abc:2:5").unwrap();
        assert_eq!(
            (r.cursor.as_deref(), r.skip, r.n),
            (Some("abc"), 2, Some(5))
        );
        assert_eq!(
            EntriesRange::parse("entries=").unwrap(),
            EntriesRange::default()
        );
        assert_eq!(EntriesRange::parse("entries=::3").unwrap().n, Some(3));
        for badv in [
            "bytes=0-1",
            "entries=a:-1",
            "entries=a:1:0",
            "entries=a:1:2:3",
        ] {
            let e = EntriesRange::parse(badv).unwrap_err().to_string();
            assert!(e.contains("Range"), "{e}");
        }
    }
}
