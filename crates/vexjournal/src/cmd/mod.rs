//! One module per subcommand.

pub mod bench;
pub mod cat;
pub mod demo;
pub mod emit;
pub mod filters;
pub mod follow;
pub mod index;
pub mod init;
pub mod query;
pub mod stats;
