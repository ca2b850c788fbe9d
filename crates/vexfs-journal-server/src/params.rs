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
                _ => return Err(bad(name, value, "unknown parameter")),
            }
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
