//! Cross-journal transactions for the VexFS semantic journal.
//!
//! A [`Coordinator`] runs two-phase commit over participant journals
//! ([`Participant`], [`JournalParticipant`]) with its own durable log:
//!
//! 1. `begin` hands out an id from a durable reservation and logs the transaction
//!    and its participants without waiting (a crash that loses that record is
//!    settled at the next open from the participants, I57).
//! 2. `add_events` writes events to a participant as one atomic batch tagged with the
//!    transaction id (`cross_boundary_id`): read-committed readers do not deliver them
//!    yet ([`vexfs_journal::tx::TxView`]).
//! 3. `prepare` makes every participant's events durable (its vote).
//! 4. `commit` logs the commit decision durably — the commit point — then appends a
//!    commit marker to every participant; a background completer logs the completion
//!    once every marker is durable. `abort` (or any failure before the commit point, or
//!    the timeout) appends abort markers instead.
//!
//! After a crash, [`Coordinator::open`] delivers every logged decision that some
//! participant lacks and aborts every transaction with no logged decision (presumed
//! abort), so all participants agree. See `docs/coordinator.md`.
//!
//! Every journal stamps its events with a hybrid logical clock, and the coordinator
//! orders each decision and marker after every event of its transaction, so
//! [`timeline::merge`] of several journals respects causality (I56).

pub mod consistency;
mod coordinator;
mod error;
mod kernel_ref;
pub mod log;
mod participant;
pub mod timeline;

pub use consistency::{ConsistencyReport, RepairReport};
pub use coordinator::{
    Coordinator, CoordinatorConfig, CoordinatorMetrics, InDoubt, RecoveryReport, TxState, TxStatus,
};
pub use error::{CoordinatorError, Result};
pub use kernel_ref::{KERNEL_REF_SUBTYPE, KernelEventRef};
pub use log::{
    LogState, PARTICIPANTS_FILE, TxSummary, check_participant_id, participant_dirs, read_log,
    summarize,
};
pub use participant::{JournalParticipant, Participant, marker};
pub use vexfs_journal::format::tx::Decision;
