//! Nodeids for source inodes.
//!
//! Each inode the kernel knows is keyed by its source `(dev, ino)` and holds an
//! `O_PATH` descriptor: hard links share one nodeid, a rename needs no fix-up (nothing
//! is stored by path) and an unlinked but open file keeps working. The entry lives as
//! long as the kernel's lookup count is above zero (`forget` lowers it).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rustix::fs::{AtFlags, Mode, OFlags, Stat};

/// Nodeid of the mount's root (the source directory).
pub const ROOT: u64 = 1;

/// How the open files of one inode are served. The kernel requires every open of an
/// inode with a passthrough backing file to use that same backing file, and refuses
/// mixing passthrough with daemon-served opens.
#[derive(Debug, Default)]
pub struct OpenState {
    /// Opens served by the daemon (their reads and writes reach it).
    pub plain: usize,
    /// The backing file of the passthrough opens, while one is open.
    pub backing: std::sync::Weak<fuser::BackingId>,
}

/// One source inode the kernel holds.
#[derive(Debug)]
pub struct Inode {
    /// `O_PATH` descriptor of the source inode.
    pub fd: OwnedFd,
    /// Source `(dev, ino)`.
    pub key: (u64, u64),
    lookups: AtomicU64,
    /// How its open files are served.
    pub open: std::sync::Mutex<OpenState>,
}

impl Inode {
    /// `/proc/self/fd/N` of its `O_PATH` descriptor: opens it again, or names it.
    pub fn proc_path(&self) -> PathBuf {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// Its current attributes (not following a symlink).
    pub fn stat(&self) -> rustix::io::Result<Stat> {
        rustix::fs::statat(
            &self.fd,
            "",
            AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
        )
    }
}

/// The table of known inodes.
#[derive(Debug)]
pub struct Inodes {
    by_id: RwLock<HashMap<u64, Arc<Inode>>>,
    by_key: RwLock<HashMap<(u64, u64), u64>>,
    next: AtomicU64,
    /// The source root's device: its inode numbers become nodeids.
    root_dev: u64,
}

/// Nodeids not taken from the source start here.
const SYNTHETIC: u64 = 1 << 63;

fn key_of(st: &Stat) -> (u64, u64) {
    (st.st_dev, st.st_ino)
}

impl Inodes {
    /// A table whose root is the directory `fd`.
    pub fn new(root: OwnedFd) -> rustix::io::Result<Inodes> {
        let st = rustix::fs::fstat(&root)?;
        let inode = Arc::new(Inode {
            fd: root,
            key: key_of(&st),
            // The root is never forgotten.
            lookups: AtomicU64::new(u64::MAX / 2),
            open: Default::default(),
        });
        let key = inode.key;
        Ok(Inodes {
            by_id: RwLock::new(HashMap::from([(ROOT, inode)])),
            by_key: RwLock::new(HashMap::from([(key, ROOT)])),
            next: AtomicU64::new(SYNTHETIC),
            root_dev: st.st_dev,
        })
    }

    /// The inode with nodeid `id`.
    pub fn get(&self, id: u64) -> Option<Arc<Inode>> {
        self.by_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// Looks `name` up in directory `parent`: its nodeid (one more kernel lookup)
    /// and attributes.
    pub fn lookup(&self, parent: &Inode, name: &OsStr) -> rustix::io::Result<(u64, Stat)> {
        let fd = rustix::fs::openat(
            &parent.fd,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = rustix::fs::statat(&fd, "", AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW)?;
        Ok((self.adopt(fd, &st), st))
    }

    /// Adopts the object `fd` (stat `st`): its existing nodeid, or a new one.
    ///
    /// A new nodeid is the source's inode number when it can be (same device as the
    /// root, not 1, not taken), so `stat` shows the same, stable number as the source
    /// across lookups, forgets and remounts, and `readdir` agrees with it. Otherwise
    /// (another device, a collision) it comes from a counter above 2^63.
    ///
    /// An entry whose file was deleted (link count 0) while the kernel still holds it
    /// (open-then-unlink) no longer owns its `(dev, ino)` key once the source reuses
    /// the inode number for a new file: the new file gets its own nodeid.
    pub fn adopt(&self, fd: OwnedFd, st: &Stat) -> u64 {
        let key = key_of(st);
        let mut by_key = self.by_key.write().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = by_key.get(&key).copied()
            && let Some(inode) = self.get(id)
        {
            let reused = st.st_nlink > 0 && inode.stat().map_or(true, |old| old.st_nlink == 0);
            if !reused {
                inode.lookups.fetch_add(1, Ordering::SeqCst);
                return id;
            }
        }
        let mut by_id = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        let id = if key.0 == self.root_dev
            && st.st_ino > ROOT
            && st.st_ino < SYNTHETIC
            && !by_id.contains_key(&st.st_ino)
        {
            st.st_ino
        } else {
            self.next.fetch_add(1, Ordering::SeqCst)
        };
        let inode = Arc::new(Inode {
            fd,
            key,
            lookups: AtomicU64::new(1),
            open: Default::default(),
        });
        by_key.insert(key, id);
        by_id.insert(id, inode);
        id
    }

    /// The nodeid of the object with stat `st`: its entry's if it has one, else the
    /// number it would get (its source inode number, `adopt`).
    pub fn id_of(&self, st: &Stat) -> u64 {
        let by_key = self.by_key.read().unwrap_or_else(|p| p.into_inner());
        by_key.get(&key_of(st)).copied().unwrap_or(st.st_ino)
    }

    /// The kernel dropped `n` lookups of `id`; the entry goes at zero.
    pub fn forget(&self, id: u64, n: u64) {
        let mut by_key = self.by_key.write().unwrap_or_else(|p| p.into_inner());
        let Some(inode) = self.get(id) else { return };
        let left = inode
            .lookups
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                Some(l.saturating_sub(n))
            })
            .map(|before| before.saturating_sub(n))
            .unwrap_or(0);
        if left == 0 && id != ROOT {
            if by_key.get(&inode.key) == Some(&id) {
                by_key.remove(&inode.key);
            }
            self.by_id
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        }
    }
}
