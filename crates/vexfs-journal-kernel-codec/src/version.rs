//! Kernel journal format versions.

use vexfs_journal_format::consts::{VERSION_MAJOR, VERSION_MINOR};

use crate::error::CompatibilityError;

/// The kernel journal format this build reads and writes: `(major, minor)`.
pub const SUPPORTED_VERSION: (u32, u32) = (VERSION_MAJOR, VERSION_MINOR);

/// Checks that a kernel offering format `(major, minor)` can exchange events with this
/// build.
///
/// Policy: the major version must be this build's (a different major means different
/// layouts); the minor version may be this build's or older (older minors are subsets
/// of ours). A newer minor is refused too: it may carry fields this build would not
/// preserve, and the bridge promises lossless conversion.
///
/// ```
/// use vexfs_journal_kernel_codec::verify_compatibility;
/// assert!(verify_compatibility((1, 0)).is_ok());
/// assert!(verify_compatibility((2, 0)).is_err());
/// assert!(verify_compatibility((1, 1)).is_err());
/// ```
pub fn verify_compatibility(kernel_version: (u32, u32)) -> Result<(), CompatibilityError> {
    let (major, minor) = kernel_version;
    if major != SUPPORTED_VERSION.0 {
        return Err(CompatibilityError::UnsupportedMajor {
            found: kernel_version,
            supported: SUPPORTED_VERSION,
        });
    }
    if minor > SUPPORTED_VERSION.1 {
        return Err(CompatibilityError::NewerMinor {
            found: kernel_version,
            supported: SUPPORTED_VERSION,
        });
    }
    Ok(())
}
