//! The bridge's conversion methods are the codec's free functions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use vexfs_journal_format::samples::category_events;
use vexfs_journal_kernel::seed::KernelCompatibilityBridgeTrait;
use vexfs_journal_kernel::{KernelBridge, convert_to_kernel_format};

#[test]
fn the_bridge_trait_converts_like_the_free_functions() {
    let (_dir, journal) = common::journal();
    let bridge = KernelBridge::new(journal, Default::default()).unwrap();
    for (_, ev) in category_events() {
        let bytes = bridge.convert_to_kernel_format(&ev).unwrap();
        assert_eq!(bytes, convert_to_kernel_format(&ev).unwrap());
        assert_eq!(bridge.convert_from_kernel_format(&bytes).unwrap(), ev);
    }
}
