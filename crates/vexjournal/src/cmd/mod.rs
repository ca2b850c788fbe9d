//! One module per subcommand.

pub mod bench;
pub mod cat;
pub mod checkpoint;
pub mod compact;
pub mod completions;
pub mod consistency;
pub mod demo;
pub mod emit;
pub mod events;
pub mod filters;
pub mod follow;
pub mod history;
pub mod index;
pub mod init;
pub mod kernel;
pub mod key;
pub mod mount;
pub mod query;
pub mod recover;
pub mod remote;
pub mod replay;
pub mod seal;
pub mod segments;
pub mod serve;
pub mod stats;
pub mod timeline;
pub mod torture;
pub mod tx;
pub mod umount;
pub mod verify;
pub mod why;

/// A byte count: digits, or a size with a decimal (kB, MB, GB) or binary (KiB, MiB,
/// GiB) unit; a bare K, M or G is binary.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    // bytesize reads "2G" as 2 GB; a bare letter conventionally means the binary unit.
    let normalized = match t.strip_suffix(['K', 'k', 'M', 'm', 'G', 'g', 'T', 't']) {
        Some(num) if num.trim().parse::<f64>().is_ok() => {
            format!("{num}{}iB", &t[num.len()..].to_ascii_uppercase())
        }
        _ => t.to_string(),
    };
    normalized
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| format!("'{s}' is not a size: use bytes (500000) or a unit (1MB, 512KiB, 2G)"))
}
