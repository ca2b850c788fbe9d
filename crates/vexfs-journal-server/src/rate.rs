//! `GET /stats/rate?by=category|type|agent&step=1m&since=…&until=…`: events per time
//! bucket, answered from the index's per-block counts (blocks straddling a bucket
//! boundary are read, so the counts are exact).
//!
//! `step` is a span (`30s`, `1m`, `5m`, `1h`, `1d`) or plain seconds; `since` and
//! `until` are RFC 3339, nanoseconds, or a span back from now (`15m`, `-15m`). The
//! defaults are `by=category`, `step=1m`, the last hour up to now. Every bucket of the
//! window is listed, empty ones too, so a chart has a continuous time axis.

use axum::extract::{Query as UrlQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use vexfs_journal::json::{parse_step, parse_time_or_ago, rate_to_json};
use vexfs_journal::{IndexError, JournalError, MAX_RATE_BUCKETS, RateBy, RateError, RateQuery};

use crate::error::ServerError;
use crate::{AppState, blocking, json_response};
use vexfs_journal::Follow;

/// The default window: the last hour.
const DEFAULT_WINDOW_NS: i64 = 3_600 * 1_000_000_000;
/// The default step: one minute.
const DEFAULT_STEP_NS: i64 = 60 * 1_000_000_000;

fn bad(name: &str, value: &str, reason: impl Into<String>) -> ServerError {
    ServerError::BadParam {
        name: name.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// Parses the query string of `GET /stats/rate` at time `now_ns`.
pub(crate) fn parse(pairs: &[(String, String)], now_ns: i64) -> Result<RateQuery, ServerError> {
    let mut by = RateBy::Category;
    let mut step = DEFAULT_STEP_NS;
    let (mut since, mut until) = (None, None);
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in pairs {
        let (name, value) = (name.as_str(), value.as_str());
        if seen.contains(&name) {
            return Err(bad(name, value, "given more than once"));
        }
        seen.push(name);
        match name {
            "by" => {
                by = value
                    .parse()
                    .map_err(|e: RateError| bad(name, value, e.to_string()))?
            }
            "step" => {
                step = parse_step(value).ok_or_else(|| {
                    bad(
                        name,
                        value,
                        "not a positive span like 30s, 1m, 1h, 1d or seconds",
                    )
                })?;
            }
            "since" | "until" => {
                let ns = parse_time_or_ago(name, value, now_ns)
                    .map_err(|e| bad(name, value, e.reason))?;
                if name == "since" {
                    since = Some(ns);
                } else {
                    until = Some(ns);
                }
            }
            _ => return Err(bad(name, value, "unknown parameter")),
        }
    }
    let until = until.unwrap_or(now_ns);
    let since = since.unwrap_or_else(|| until.saturating_sub(DEFAULT_WINDOW_NS));
    if until < since {
        return Err(bad("until", &until.to_string(), "before since"));
    }
    let buckets = (i128::from(until) - i128::from(since) + i128::from(step) - 1) / i128::from(step);
    if buckets > i128::from(MAX_RATE_BUCKETS) {
        return Err(bad(
            "step",
            &step.to_string(),
            format!(
                "{buckets} buckets, at most {MAX_RATE_BUCKETS}: use a larger step or a shorter window"
            ),
        ));
    }
    Ok(RateQuery {
        by,
        step_ns: step,
        since_ns: Some(since),
        until_ns: Some(until),
        visibility: None,
    })
}

/// `GET /stats/rate`.
pub(crate) async fn rate<F: Follow>(
    State(state): State<AppState<F>>,
    principal: Option<axum::Extension<crate::auth::Principal>>,
    UrlQuery(pairs): UrlQuery<Vec<(String, String)>>,
) -> Result<Response, ServerError> {
    // A principal counts only the events its mask lets it see.
    let mask = principal.and_then(|p| p.0.mask);
    answer(state, &pairs, mask).await
}

/// Answers a rate request for a principal with `visibility` (`None`: every event).
pub(crate) async fn answer<F: Follow>(
    state: AppState<F>,
    pairs: &[(String, String)],
    visibility: Option<u64>,
) -> Result<Response, ServerError> {
    let now = vexfs_journal::system_ns(std::time::SystemTime::now());
    let mut query = parse(pairs, now)?;
    query.visibility = visibility;
    let reader = state.reader.clone();
    let rate = blocking(move || {
        reader.update_view()?;
        reader.rate(&query)
    })
    .await
    .map_err(|e| match e {
        ServerError::Journal(JournalError::Index(IndexError::Rate(r))) => {
            bad("step", "", r.to_string())
        }
        e => e,
    })?;
    Ok(json_response(StatusCode::OK, &rate_to_json(&rate)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    const NOW: i64 = 1_764_000_000_000_000_000;

    fn parsed(list: &[(&str, &str)]) -> Result<RateQuery, ServerError> {
        let pairs: Vec<(String, String)> = list
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        parse(&pairs, NOW)
    }

    fn refused(list: &[(&str, &str)]) -> String {
        match parsed(list) {
            Err(ServerError::BadParam { name, .. }) => name,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_steps_and_times() {
        let q = parsed(&[]).unwrap();
        assert_eq!(q.by, RateBy::Category);
        assert_eq!(q.step_ns, 60_000_000_000);
        assert_eq!(q.until_ns, Some(NOW));
        assert_eq!(q.since_ns, Some(NOW - 3_600_000_000_000));
        for (text, ns) in [
            ("30s", 30_000_000_000),
            ("1m", 60_000_000_000),
            ("5m", 300_000_000_000),
            ("1h", 3_600_000_000_000),
            ("1d", 86_400_000_000_000),
            ("90", 90_000_000_000),
        ] {
            assert_eq!(
                parsed(&[("step", text), ("since", "-30d")])
                    .unwrap()
                    .step_ns,
                ns
            );
        }
        let q = parsed(&[("by", "agent"), ("since", "-15m"), ("until", "5m")]).unwrap();
        assert_eq!(q.by, RateBy::Agent);
        assert_eq!(q.since_ns, Some(NOW - 900_000_000_000));
        assert_eq!(q.until_ns, Some(NOW - 300_000_000_000));
        let q = parsed(&[
            ("since", "2025-11-24T08:00:00Z"),
            ("until", &NOW.to_string()),
        ])
        .unwrap();
        assert_eq!(q.since_ns, Some(NOW - 3_600_000_000_000 * 8));
        assert_eq!(q.until_ns, Some(NOW));
    }

    #[test]
    fn bad_parameters_are_named() {
        assert_eq!(refused(&[("by", "weight")]), "by");
        assert_eq!(refused(&[("step", "0")]), "step");
        assert_eq!(refused(&[("step", "-1m")]), "step");
        assert_eq!(refused(&[("step", "1parsec")]), "step");
        assert_eq!(refused(&[("step", "1s"), ("since", "-30d")]), "step");
        assert_eq!(refused(&[("since", "yesterday-ish")]), "since");
        assert_eq!(refused(&[("since", "5m"), ("until", "10m")]), "until");
        assert_eq!(refused(&[("by", "type"), ("by", "agent")]), "by");
        assert_eq!(refused(&[("color", "red")]), "color");
    }
}
