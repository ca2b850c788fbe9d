//! One module per subcommand.

pub mod bench;
pub mod cat;
pub mod checkpoint;
pub mod compact;
pub mod completions;
pub mod demo;
pub mod emit;
pub mod events;
pub mod filters;
pub mod follow;
pub mod history;
pub mod index;
pub mod init;
pub mod kernel;
pub mod mount;
pub mod query;
pub mod recover;
pub mod remote;
pub mod replay;
pub mod segments;
pub mod serve;
pub mod stats;
pub mod torture;
pub mod umount;
pub mod verify;
pub mod why;
