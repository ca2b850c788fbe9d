//! A journaling FUSE mirror of a directory (issue 12; work in progress on this branch).
//!
//! Planned layout, one concept per module (see `/work/fuse-research.md` for the API
//! facts this rests on):
//! - `inodes`: nodeids for source inodes keyed by `(dev, ino)`, each holding an
//!   `O_PATH` descriptor and the kernel's lookup count, so hard links share a number,
//!   renames need no fix-up and open-then-unlink keeps working;
//! - `handles`: open files and directories, never-reused handle numbers, the
//!   passthrough backing id shared by every open of an inode;
//! - `fs`: the `fuser::Filesystem` implementation, errno from the source unchanged;
//! - `events`: one journal event per successful mutating operation (and, for files
//!   served by kernel passthrough, a size/mtime change recorded at release);
//! - `mount`: sessions, threads, SIGTERM/SIGINT unmount, closing the journal.
//!
//! The crate imports only the facade (`vexfs-journal`, without tokio).
