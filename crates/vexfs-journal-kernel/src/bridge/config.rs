//! [`BridgeConfig`]: where a bridge reads its kernel source and how it batches imports.

use std::path::PathBuf;

use crate::image::ReaderOptions;

/// How a [`super::KernelBridge`] reads its source and imports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeConfig {
    /// The kernel journal source: an image file or a block device.
    pub source: Option<PathBuf>,
    /// A drift whose magnitude is at most this is not counted as a drift event.
    pub drift_tolerance: u64,
    /// Most kernel events per import batch (each batch is one atomic block with its
    /// marker).
    pub batch_events: usize,
    /// Most bytes of payload and metadata per import batch.
    pub batch_bytes: usize,
    /// Bounds applied to the image's block headers.
    pub reader: ReaderOptions,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            source: None,
            drift_tolerance: 0,
            batch_events: 1024,
            batch_bytes: 8 << 20,
            reader: ReaderOptions::default(),
        }
    }
}

impl BridgeConfig {
    /// The default configuration reading `source`.
    pub fn with_source(source: impl Into<PathBuf>) -> Self {
        BridgeConfig {
            source: Some(source.into()),
            ..BridgeConfig::default()
        }
    }
}
