//! The seed specification's interface names, kept apart from the bridge's own API:
//! [`KernelCompatibilityBridgeTrait`] (with `get_*` names and async methods that run
//! the bridge's blocking work off the runtime), implemented on [`KernelBridge`].

use std::future::Future;

use vexfs_journal::Event;

use crate::bridge::{KernelBridge, KernelJournalStatus, SequenceSyncResult, SyncMetrics};
use crate::convert;
use crate::error::{CompatibilityError, ConversionError, SyncError, SyncResult};
use crate::version;

/// The seed specification's kernel compatibility bridge (§2.2).
///
/// The async methods run their blocking work (file reads, journal writes) on tokio's
/// blocking pool when called inside a tokio runtime, inline otherwise.
pub trait KernelCompatibilityBridgeTrait: Send + Sync {
    /// Converts a userspace event to the exact kernel binary event.
    fn convert_to_kernel_format(&self, event: &Event) -> Result<Vec<u8>, ConversionError>;

    /// Converts one kernel binary event to a userspace event.
    fn convert_from_kernel_format(&self, data: &[u8]) -> Result<Event, ConversionError>;

    /// Synchronises the sequences with the kernel journal source: computes the offset,
    /// detects drift and resynchronises (imports what the journal lacks).
    fn sync_sequences(&self) -> impl Future<Output = SyncResult<SequenceSyncResult>> + Send;

    /// Refuses kernel format versions this build cannot exchange events with.
    fn verify_compatibility(&self, kernel_version: (u32, u32)) -> Result<(), CompatibilityError>;

    /// Reads the kernel journal source and reports its state against the journal's.
    fn get_kernel_status(&self) -> impl Future<Output = SyncResult<KernelJournalStatus>> + Send;

    /// Maps a userspace (journal) sequence into the kernel's sequence space.
    fn adjust_sequence_for_kernel(&self, userspace_sequence: u64) -> u64;

    /// Maps a kernel sequence into the userspace (journal) sequence space.
    fn adjust_sequence_from_kernel(&self, kernel_sequence: u64) -> u64;

    /// Whether the configured kernel journal source can be read.
    fn is_kernel_available(&self) -> impl Future<Output = bool> + Send;

    /// Counters and latency of the synchronisations so far.
    fn get_sync_metrics(&self) -> SyncMetrics;
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> SyncResult<T> + Send + 'static,
) -> SyncResult<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(f)
            .await
            .map_err(|e| SyncError::Task(e.to_string()))?,
        Err(_) => f(),
    }
}

impl KernelCompatibilityBridgeTrait for KernelBridge {
    fn convert_to_kernel_format(&self, event: &Event) -> Result<Vec<u8>, ConversionError> {
        convert::convert_to_kernel_format(event)
    }

    fn convert_from_kernel_format(&self, data: &[u8]) -> Result<Event, ConversionError> {
        convert::convert_from_kernel_format(data)
    }

    fn sync_sequences(&self) -> impl Future<Output = SyncResult<SequenceSyncResult>> + Send {
        let bridge = self.clone();
        run_blocking(move || bridge.sync())
    }

    fn verify_compatibility(&self, kernel_version: (u32, u32)) -> Result<(), CompatibilityError> {
        version::verify_compatibility(kernel_version)
    }

    fn get_kernel_status(&self) -> impl Future<Output = SyncResult<KernelJournalStatus>> + Send {
        let bridge = self.clone();
        run_blocking(move || bridge.kernel_status())
    }

    fn adjust_sequence_for_kernel(&self, userspace_sequence: u64) -> u64 {
        KernelBridge::adjust_sequence_for_kernel(self, userspace_sequence)
    }

    fn adjust_sequence_from_kernel(&self, kernel_sequence: u64) -> u64 {
        KernelBridge::adjust_sequence_from_kernel(self, kernel_sequence)
    }

    fn is_kernel_available(&self) -> impl Future<Output = bool> + Send {
        let bridge = self.clone();
        async move {
            run_blocking(move || Ok(bridge.kernel_available()))
                .await
                .unwrap_or(false)
        }
    }

    fn get_sync_metrics(&self) -> SyncMetrics {
        self.sync_metrics()
    }
}
