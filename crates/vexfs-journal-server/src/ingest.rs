//! `POST /events`: NDJSON events appended as one all-or-nothing batch.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query as UrlQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use vexfs_journal::format::record::check_record;
use vexfs_journal::{Event, Follow, json};

use crate::auth::Principal;
use crate::error::ServerError;
use crate::{AppState, json_response};

/// Appends the body's events (one JSON object a line, the schema of `vexjournal
/// emit`) as one atomic batch and answers their sequence range; with `?durable=1`,
/// once they are fsynced. Any bad line refuses the whole body, naming the line.
pub(crate) async fn post_events<F: Follow>(
    State(state): State<AppState<F>>,
    principal: Option<Extension<Principal>>,
    UrlQuery(pairs): UrlQuery<Vec<(String, String)>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ServerError> {
    let Some(journal) = state.writer.clone() else {
        return Err(ServerError::ReadOnly);
    };
    if let Some(Extension(p)) = &principal
        && !p.write
    {
        return Err(ServerError::Forbidden(format!(
            "principal {} may read but not append (add `write` to its line of the token file)",
            p.name
        )));
    }
    let mut durable = false;
    for (name, value) in &pairs {
        match (name.as_str(), value.as_str()) {
            ("durable", "1" | "true") => durable = true,
            ("durable", "0" | "false") => durable = false,
            ("durable", v) => {
                return Err(ServerError::BadParam {
                    name: "durable".into(),
                    value: v.into(),
                    reason: "not 1, 0, true or false".into(),
                });
            }
            (n, v) => {
                return Err(ServerError::BadParam {
                    name: n.into(),
                    value: v.into(),
                    reason: "unknown parameter of POST /events (known: durable)".into(),
                });
            }
        }
    }
    let body = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ServerError::TooLarge(format!(
                "the body is larger than {} bytes; send fewer events per request",
                state.options.max_body
            ))
        }
        other => ServerError::BadBody {
            line: 0,
            reason: other.body_text(),
        },
    })?;
    let events = parse_body(&body, &journal, journal.meta().config.segment_size)?;
    let count = events.len() as u64;
    let range = journal.emit_batch_atomic_async(events).await?;
    if durable {
        journal.wait_durable_async(range.end).await?;
    }
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "first_seq": range.start,
            "last_seq": range.end.saturating_sub(1),
            "count": count,
            "durable": durable,
        }),
    ))
}

/// The body's events, each checked as the journal will check it; the first bad line
/// refuses them all.
fn parse_body(
    body: &[u8],
    journal: &vexfs_journal::Journal,
    segment_size: u64,
) -> Result<Vec<Event>, ServerError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        let line = body[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        ServerError::BadBody {
            line,
            reason: format!("not UTF-8 at byte {}", e.valid_up_to()),
        }
    })?;
    let mut events = Vec::new();
    let mut bytes = 0u64;
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| ServerError::BadBody {
            line: number,
            reason,
        };
        let event = json::parse_line(line).map_err(|e| bad(e.to_string()))?;
        journal
            .check_event(&event)
            .map_err(|e| bad(e.to_string()))?;
        bytes += check_record(&event).map_or(0, |n| n as u64);
        if bytes > segment_size {
            return Err(ServerError::TooLarge(format!(
                "line {number}: the batch reaches {bytes} bytes of records, more than one \
                 segment ({segment_size} bytes) holds; a request is one atomic batch, so \
                 send fewer events per request"
            )));
        }
        events.push(event);
    }
    if events.is_empty() {
        return Err(ServerError::BadBody {
            line: 0,
            reason: "no event: send one JSON object a line".into(),
        });
    }
    Ok(events)
}
