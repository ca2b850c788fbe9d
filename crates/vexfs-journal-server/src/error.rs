//! The server's errors.

use vexfs_journal::JournalError;

/// What went wrong answering a request or serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A request parameter (query string, path segment or header) is malformed.
    #[error("bad parameter {name}={value:?}: {reason}")]
    BadParam {
        /// The parameter's name.
        name: String,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// No bearer token, or an unknown one.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The principal may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// `POST /events` on a server that does not write the journal.
    #[error("this server is read-only: start it with `vexjournal serve --ingest` to accept events")]
    ReadOnly,
    /// A line of a `POST /events` body is refused (line 0: the body as a whole); nothing
    /// was written.
    #[error("line {line} of the body: {reason}; nothing was written")]
    BadBody {
        /// The 1-based line (0: the whole body).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A request body over a limit; nothing was written.
    #[error("too large: {0}; nothing was written")]
    TooLarge(String),
    /// No event has this sequence number.
    #[error("no event with sequence {0}")]
    NotFound(u64),
    /// The journal could not be read.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// A subscription delivered an event without a resume cursor (a facade bug).
    #[error("no cursor after event {0}")]
    NoCursor(u64),
    /// Looking for new events failed (the live feed ends).
    #[error("refreshing the journal: {0}")]
    Refresh(String),
    /// A blocking read task failed.
    #[error("read task: {0}")]
    Task(String),
    /// An answer could not be encoded as JSON.
    #[error("encoding the answer: {0}")]
    Encode(String),
    /// The listener failed.
    #[error("listener: {0}")]
    Io(#[source] std::io::Error),
}
