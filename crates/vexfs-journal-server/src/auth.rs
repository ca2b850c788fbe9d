//! Principals: bearer tokens, each mapped to an agent visibility mask and a right to
//! append.
//!
//! A token file has one principal a line, `NAME TOKEN MASK [write]`, `#` starting a
//! comment. MASK is `all`, a hexadecimal `0x…` or a decimal number: the principal sees
//! an event when the event's `agent_visibility_mask` shares a bit with it. `write`
//! lets the principal `POST /events`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ServerError;

/// Shortest token accepted: shorter ones are guessable.
const MIN_TOKEN_LEN: usize = 16;

/// Who a request comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The name the token file gives it (for logs and `/health`).
    pub name: String,
    /// The agents whose events it sees; `None` sees every event.
    pub mask: Option<u64>,
    /// Whether it may append events.
    pub write: bool,
}

/// The principals of a token file.
#[derive(Clone, Debug, Default)]
pub struct Principals {
    entries: Vec<(String, Principal)>,
}

/// A token file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// It could not be read.
    #[error("reading the token file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Others than its owner may read it.
    #[error("the token file {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A line is malformed.
    #[error("{origin} line {line}: {reason}")]
    Line {
        /// The file (or where the text came from).
        origin: String,
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// No principal at all: nobody could use the server.
    #[error("{0} names no principal (expected lines `NAME TOKEN MASK [write]`)")]
    Empty(String),
}

impl Principals {
    /// Reads a token file, refusing one that others than its owner may read.
    pub fn load(path: &Path) -> Result<Principals, TokenFileError> {
        use std::os::unix::fs::PermissionsExt;
        let read = |source| TokenFileError::Read {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(TokenFileError::Exposed {
                path: path.to_path_buf(),
                mode,
            });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        Principals::parse(&text, &path.display().to_string())
    }

    /// Parses a token file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Principals, TokenFileError> {
        let mut entries: Vec<(String, Principal)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |reason: String| TokenFileError::Line {
                origin: origin.to_owned(),
                line: i + 1,
                reason,
            };
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (name, token, mask, rights) = match fields.as_slice() {
                [n, t, m] => (*n, *t, *m, None),
                [n, t, m, r] => (*n, *t, *m, Some(*r)),
                _ => {
                    return Err(bad(format!(
                        "{} fields; expected `NAME TOKEN MASK [write]`",
                        fields.len()
                    )));
                }
            };
            if token.len() < MIN_TOKEN_LEN {
                return Err(bad(format!(
                    "the token of {name} has {} characters; use at least {MIN_TOKEN_LEN} \
                     (e.g. `openssl rand -hex 16`)",
                    token.len()
                )));
            }
            let mask = parse_mask(mask).map_err(bad)?;
            let write = match rights {
                None => false,
                Some("write") => true,
                Some(other) => return Err(bad(format!("{other:?} is not `write`"))),
            };
            if entries.iter().any(|(t, _)| t == token) {
                return Err(bad(format!("the token of {name} is given twice")));
            }
            entries.push((
                token.to_owned(),
                Principal {
                    name: name.to_owned(),
                    mask,
                    write,
                },
            ));
        }
        if entries.is_empty() {
            return Err(TokenFileError::Empty(origin.to_owned()));
        }
        Ok(Principals { entries })
    }

    /// The principal holding `token`.
    pub fn find(&self, token: &str) -> Option<&Principal> {
        // Every entry is compared, each in time independent of where bytes differ, so
        // response times do not tell how much of a guess was right.
        let mut found = None;
        for (t, p) in &self.entries {
            if same(t.as_bytes(), token.as_bytes()) {
                found = Some(p);
            }
        }
        found
    }
}

/// Compares in time that depends on the lengths only. Hand-written: five lines do not
/// justify a dependency.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse_mask(text: &str) -> Result<Option<u64>, String> {
    let parsed = if text == "all" {
        return Ok(None);
    } else if let Some(hex) = text.strip_prefix("0x") {
        u64::from_str_radix(hex, 16)
    } else {
        text.parse()
    };
    match parsed {
        Ok(0) => Err("mask 0 sees no event; give the agents' bits, or `all`".into()),
        Ok(m) => Ok(Some(m)),
        Err(_) => Err(format!(
            "mask {text:?} is not `all`, 0x-hexadecimal or a decimal number"
        )),
    }
}

/// Middleware: with principals, answers 401 unless the request carries a known
/// bearer token, and hands the handlers its [`Principal`].
pub(crate) async fn require(
    State(principals): State<Option<Arc<Principals>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(principals) = principals else {
        return next.run(request).await;
    };
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let principal = match token {
        None => {
            return ServerError::Unauthorized(
                "send `Authorization: Bearer TOKEN` with a token of the server's token file".into(),
            )
            .into_response();
        }
        Some(t) => match principals.find(t) {
            Some(p) => p.clone(),
            None => {
                return ServerError::Unauthorized("the bearer token is not known".into())
                    .into_response();
            }
        },
    };
    request.extensions_mut().insert(principal);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_finds() {
        let p = Principals::parse(
            "# comment\nops 0123456789abcdef all write\n\nagent3 fedcba9876543210fe 0x8 # a\n",
            "t",
        )
        .unwrap();
        let ops = p.find("0123456789abcdef");
        assert_eq!(ops.map(|p| (p.mask, p.write)), Some((None, true)));
        let a = p.find("fedcba9876543210fe");
        assert_eq!(a.map(|p| (p.mask, p.write)), Some((Some(8), false)));
        assert!(p.find("0123456789abcdeX").is_none());
        assert!(p.find("").is_none());
    }

    #[test]
    fn bad_lines_name_the_line() {
        for (text, needle) in [
            ("a short all", "line 1: the token of a has 5 characters"),
            ("a 0123456789abcdef", "line 1: 2 fields"),
            ("\na 0123456789abcdef 0", "line 2: mask 0"),
            ("a 0123456789abcdef 0xZZ", "is not `all`"),
            ("a 0123456789abcdef all read", "\"read\" is not `write`"),
            (
                "a 0123456789abcdef all\nb 0123456789abcdef 1",
                "line 2: the token of b is given twice",
            ),
            ("# nothing\n", "names no principal"),
        ] {
            let err = Principals::parse(text, "tokens")
                .err()
                .map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(needle)),
                "{text:?}: {err:?}"
            );
        }
    }
}
