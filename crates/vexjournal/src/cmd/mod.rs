//! One module per subcommand.

pub mod bench;
pub mod cat;
pub mod demo;
pub mod emit;
pub mod init;
pub mod stats;
