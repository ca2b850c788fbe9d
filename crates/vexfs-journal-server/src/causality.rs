//! `GET /events/{seq}/causality`: an event's causes up to the root cause and what
//! followed from it, as nodes and edges a page can draw.

use axum::Extension;
use axum::extract::{Path as UrlPath, Query as UrlQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use vexfs_journal::{CausalityOptions, CauseKind, Follow};

use crate::auth::Principal;
use crate::error::ServerError;
use crate::{AppState, blocking, json_response};

/// Most events an answer may be asked to hold.
const MAX_EVENTS: usize = 10_000;

fn bad(name: &str, value: &str, reason: &str) -> ServerError {
    ServerError::BadParam {
        name: name.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

fn flag(name: &str, value: &str) -> Result<bool, ServerError> {
    match value {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(bad(name, value, "not 1, 0, true or false")),
    }
}

/// Parses `ancestors`, `descendants` (1/0, both on by default) and `max` (events,
/// default 200).
fn options(pairs: &[(String, String)]) -> Result<CausalityOptions, ServerError> {
    let mut o = CausalityOptions {
        max_events: 200,
        ..CausalityOptions::default()
    };
    for (name, value) in pairs {
        match name.as_str() {
            "ancestors" => o.ancestors = flag(name, value)?,
            "descendants" => o.descendants = flag(name, value)?,
            "max" => {
                o.max_events = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_EVENTS).contains(n))
                    .ok_or_else(|| {
                        bad(name, value, &format!("not a number from 1 to {MAX_EVENTS}"))
                    })?;
            }
            _ => {
                return Err(bad(
                    name,
                    value,
                    "unknown parameter (known: ancestors, descendants, max)",
                ));
            }
        }
    }
    Ok(o)
}

pub(crate) async fn causality<F: Follow>(
    State(state): State<AppState<F>>,
    principal: Option<Extension<Principal>>,
    UrlPath(seq): UrlPath<String>,
    UrlQuery(pairs): UrlQuery<Vec<(String, String)>>,
) -> Result<Response, ServerError> {
    let seq: u64 = seq
        .parse()
        .map_err(|_| bad("seq", &seq, "not a sequence number"))?;
    let mut options = options(&pairs)?;
    options.visibility = principal.and_then(|p| p.0.mask);
    let reader = state.reader.clone();
    let found = blocking(move || {
        reader.update_view()?;
        reader.causality(seq, &options)
    })
    .await?
    .ok_or(ServerError::NotFound(seq))?;
    let nodes: Vec<Value> = found
        .events
        .values()
        .map(|ev| {
            let mut v = vexfs_journal::json::to_json(ev);
            if let Value::Object(m) = &mut v {
                m.insert(
                    "category".into(),
                    json!(ev.event.event_type.category().to_string()),
                );
            }
            v
        })
        .collect();
    let edges: Vec<Value> = found
        .edges
        .iter()
        .map(|e| match &e.kind {
            CauseKind::Parent => json!({"cause": e.cause, "effect": e.effect, "via": "parent"}),
            CauseKind::RootCause => {
                json!({"cause": e.cause, "effect": e.effect, "via": "root_cause"})
            }
            CauseKind::Link(l) => json!({
                "cause": e.cause,
                "effect": e.effect,
                "via": "link",
                "link_type": l.causality_type,
                "strength": l.strength,
                "delay_ns": l.delay_ns,
                "description": String::from_utf8_lossy(&l.description),
            }),
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "seq": found.seq,
            "nodes": nodes,
            "edges": edges,
            "ancestors": found.ancestors,
            "descendants": found.descendants,
            "truncated": found.truncated,
            "missing": found.missing,
        }),
    ))
}
