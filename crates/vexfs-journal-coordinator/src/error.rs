//! Errors of the coordinator.

use vexfs_journal::JournalError;

/// Why a coordinator operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoordinatorError {
    /// The transaction is not open in this coordinator: never begun, already finished,
    /// or begun before the coordinator restarted (then it was aborted on restart, and a
    /// late writer of it is fenced off).
    #[error(
        "transaction {tx} is not open here (finished, unknown, or begun before the coordinator restarted): begin a new one"
    )]
    UnknownTransaction {
        /// The transaction.
        tx: u64,
    },
    /// The operation needs another state of the transaction.
    #[error("transaction {tx} is {state}: cannot {operation}")]
    WrongState {
        /// The transaction.
        tx: u64,
        /// Its state.
        state: &'static str,
        /// What was asked.
        operation: &'static str,
    },
    /// The commit decision of `tx` could not be made durable: it may or may not be in
    /// the log, so its outcome is unknown here, and this coordinator stops deciding.
    #[error(
        "the commit decision of transaction {tx} could not be written durably, so its outcome is unknown until the coordinator is reopened (which settles it from its log): {source}"
    )]
    OutcomeUnknown {
        /// The transaction.
        tx: u64,
        /// The log's error.
        #[source]
        source: Box<JournalError>,
    },
    /// An earlier commit decision could not be logged; this coordinator decides
    /// nothing more.
    #[error(
        "this coordinator stopped after its log failed: reopen it (recovery settles every open transaction)"
    )]
    Stopped,
    /// A participant name the coordinator was not opened with.
    #[error("no participant named {name:?}: participants are given when the coordinator is opened")]
    UnknownParticipant {
        /// The name.
        name: String,
    },
    /// The participant exists but is not part of this transaction.
    #[error("participant {name:?} is not part of transaction {tx}: name it in begin")]
    NotAParticipant {
        /// The transaction.
        tx: u64,
        /// The participant.
        name: String,
    },
    /// A participant list that cannot be used (none, a name twice, a journal that may
    /// drop events).
    #[error("bad participants: {reason}")]
    BadParticipants {
        /// What is wrong.
        reason: String,
    },
    /// Kernel event references that cannot be recorded.
    #[error("bad kernel event references: {reason}")]
    BadKernelRefs {
        /// What is wrong.
        reason: String,
    },
    /// The transaction ran past its timeout and was aborted.
    #[error("transaction {tx} timed out after {timeout_ms} ms and was aborted")]
    TimedOut {
        /// The transaction.
        tx: u64,
        /// Its timeout.
        timeout_ms: u64,
    },
    /// A participant failed; the transaction was aborted (before a commit decision).
    #[error("participant {name:?} failed to {step} transaction {tx}, which was aborted: {source}")]
    Aborted {
        /// The transaction.
        tx: u64,
        /// The participant.
        name: String,
        /// The step that failed.
        step: &'static str,
        /// Its error.
        #[source]
        source: Box<JournalError>,
    },
    /// The decision is durable but some participants have not received their marker
    /// yet (they failed); [`crate::Coordinator::resolve`] or a restart delivers it.
    #[error(
        "transaction {tx} is decided ({decision}) but participants {pending:?} have not recorded it yet: call resolve, or restart the coordinator"
    )]
    Undelivered {
        /// The transaction.
        tx: u64,
        /// The decision.
        decision: &'static str,
        /// Participants still without a marker.
        pending: Vec<String>,
    },
    /// A participant journal cannot be opened or read (the consistency checker, or
    /// an open looking for transactions whose begin record was lost).
    #[error("participant journal {participant}: {source}")]
    ParticipantJournal {
        /// Its name.
        participant: String,
        /// What failed.
        source: Box<JournalError>,
    },
    /// The coordinator's own log failed.
    #[error("the coordinator log failed: {0}")]
    Log(#[source] Box<JournalError>),
    /// The participants file beside the log cannot be read or written.
    #[error("participants file {}: {reason}", path.display())]
    Participants {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A background thread (timeouts, completions) could not be started.
    #[error("could not start a coordinator thread (timeouts or completions): {0}")]
    Thread(#[source] std::io::Error),
    /// An async operation was called outside a Tokio runtime.
    #[error(
        "the coordinator's async operations run on Tokio's blocking pool: call them inside a Tokio runtime, or use the synchronous ones"
    )]
    NoRuntime,
    /// The blocking task of an async operation did not finish (it panicked, or the
    /// runtime shut down under it); the operation may or may not have taken effect.
    #[error("the blocking task of an async coordinator operation did not finish: {0}")]
    TaskFailed(String),
    /// The journal holds a transaction's event or marker: it is a participant
    /// journal, not a coordinator log.
    #[error(
        "record {seq} belongs to a coordinated transaction: this is a participant journal, not a coordinator log"
    )]
    NotALog {
        /// Its sequence.
        seq: u64,
    },
    /// A record of the coordinator log does not parse.
    #[error("coordinator log record {seq} is damaged: {reason}")]
    BadRecord {
        /// Its sequence in the coordinator log.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// An injected crash (fault-injection builds): the coordinator stopped at this
    /// point, as if its process had died.
    #[error("injected crash at {0}")]
    Crashed(&'static str),
}

impl CoordinatorError {
    /// A failure of the coordinator log.
    pub(crate) fn log(e: JournalError) -> CoordinatorError {
        CoordinatorError::Log(Box::new(e))
    }
}

/// Result of a coordinator operation.
pub type Result<T> = std::result::Result<T, CoordinatorError>;
