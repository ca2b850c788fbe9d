//! The `fuser::Filesystem` of the mirror: each operation runs on the source inode's
//! descriptor, the source's errno goes back unchanged, and each successful mutating
//! operation becomes one journal event.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use rustix::fs::{AtFlags, Mode, OFlags, Stat};
use vexfs_journal::{FsOp, Journal, SystemOp};

use crate::capture::{CaptureConfig, ReadCapture, WriteCapture};
use crate::inodes::{Inode, Inodes};
use crate::sink::{Caller, CaptureCounters, FsEvent, FsEventSink, FsSubtype, Recorded};

/// Attribute and entry cache time by default. Zero: the source may change underneath
/// the mount, and a stale size or a stale name would be wrong (`docs/fuse.md`).
const TTL: Duration = Duration::ZERO;

fn errno(e: rustix::io::Errno) -> Errno {
    Errno::from_i32(e.raw_os_error())
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc_eio()))
}

const fn libc_eio() -> i32 {
    5
}

fn time(sec: i64, nsec: i64) -> SystemTime {
    let nanos = u32::try_from(nsec).unwrap_or(0);
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec.unsigned_abs(), nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(sec.unsigned_abs())
            + Duration::from_nanos(u64::from(nanos))
    }
}

fn kind(mode: u32) -> FileType {
    match mode & 0o170000 {
        0o040000 => FileType::Directory,
        0o120000 => FileType::Symlink,
        0o010000 => FileType::NamedPipe,
        0o020000 => FileType::CharDevice,
        0o060000 => FileType::BlockDevice,
        0o140000 => FileType::Socket,
        _ => FileType::RegularFile,
    }
}

fn attr(ino: u64, st: &Stat) -> FileAttr {
    FileAttr {
        ino: INodeNo(ino),
        size: u64::try_from(st.st_size).unwrap_or(0),
        blocks: u64::try_from(st.st_blocks).unwrap_or(0),
        atime: time(st.st_atime, st.st_atime_nsec as i64),
        mtime: time(st.st_mtime, st.st_mtime_nsec as i64),
        ctime: time(st.st_ctime, st.st_ctime_nsec as i64),
        crtime: UNIX_EPOCH,
        kind: kind(st.st_mode),
        perm: (st.st_mode & 0o7777) as u16,
        nlink: u32::try_from(st.st_nlink).unwrap_or(u32::MAX),
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: u32::try_from(st.st_rdev).unwrap_or(0),
        blksize: u32::try_from(st.st_blksize).unwrap_or(4096),
        flags: 0,
    }
}

/// An open file of the mount.
#[derive(Debug)]
struct Handle {
    file: File,
    /// The inode it opened.
    inode: Arc<Inode>,
    /// Its passthrough backing file (reads and writes bypass the daemon), if any.
    backing: Option<Arc<fuser::BackingId>>,
    /// Size and mtime (ns) when opened for writing (for `write = "close"`).
    before: Option<(u64, i64)>,
}

fn size_mtime(st: &Stat) -> (u64, i64) {
    (
        u64::try_from(st.st_size).unwrap_or(0),
        st.st_mtime
            .saturating_mul(1_000_000_000)
            .saturating_add(st.st_mtime_nsec as i64),
    )
}

/// The journaling mirror of one source directory.
#[derive(Debug)]
pub struct MirrorFs {
    inodes: Inodes,
    handles: RwLock<HashMap<u64, Arc<Handle>>>,
    /// Open directories: the entries listed at `opendir` (or at a rewind).
    dirs: RwLock<HashMap<u64, Arc<DirHandle>>>,
    next_fh: AtomicU64,
    sink: Arc<FsEventSink>,
    /// POSIX record locks: one open file description per (nodeid, lock owner), so
    /// the source's kernel arbitrates between owners as between processes.
    locks: std::sync::Mutex<HashMap<(u64, u64), Arc<File>>>,
    /// The daemon's umask: the kernel already applied the caller's, so modes the
    /// daemon's would narrow are set again exactly after creation.
    daemon_umask: u32,
    root_len: usize,
    /// The source directory, canonical (for mount events).
    source_path: Vec<u8>,
    /// Whether the kernel granted passthrough (and it still works).
    passthrough: std::sync::atomic::AtomicBool,
    capture: CaptureConfig,
    /// How long the kernel may cache attributes and names (zero by default).
    attr_ttl: Duration,
    entry_ttl: Duration,
}

/// An open directory: its entries (nodeid or source inode number, type, name),
/// listed once so that offsets stay valid across `readdir` calls (telldir/seekdir)
/// and a large directory is read once, not once per call.
#[derive(Debug)]
struct DirHandle {
    inode: Arc<Inode>,
    entries: std::sync::Mutex<Vec<(u64, FileType, std::ffi::OsString)>>,
}

impl MirrorFs {
    /// A mirror of the directory `source`, journaling into `journal`.
    pub fn new(source: &std::path::Path, journal: Journal) -> std::io::Result<MirrorFs> {
        Self::with_capture(source, journal, CaptureConfig::default())
    }

    /// A mirror journaling what `capture` asks for.
    pub fn with_capture(
        source: &std::path::Path,
        journal: Journal,
        capture: CaptureConfig,
    ) -> std::io::Result<MirrorFs> {
        let sink = FsEventSink::new(journal, &capture).map_err(std::io::Error::other)?;
        Self::with_sink(source, Arc::new(sink), capture)
    }

    /// A mirror journaling through `sink` (its capture configuration is `capture`).
    pub fn with_sink(
        source: &std::path::Path,
        sink: Arc<FsEventSink>,
        capture: CaptureConfig,
    ) -> std::io::Result<MirrorFs> {
        let root: OwnedFd = rustix::fs::open(
            source,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let canonical = std::fs::canonicalize(source)?;
        let root_len = canonical.as_os_str().len();
        let source_path = std::os::unix::ffi::OsStrExt::as_bytes(canonical.as_os_str()).to_vec();
        // Reading the umask means setting it: put it straight back.
        let daemon_umask = rustix::process::umask(Mode::empty());
        rustix::process::umask(daemon_umask);
        Ok(MirrorFs {
            inodes: Inodes::new(root)?,
            handles: RwLock::new(HashMap::new()),
            dirs: RwLock::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            sink,
            locks: std::sync::Mutex::new(HashMap::new()),
            daemon_umask: daemon_umask.bits(),
            root_len,
            source_path,
            passthrough: std::sync::atomic::AtomicBool::new(false),
            capture,
            attr_ttl: TTL,
            entry_ttl: TTL,
        })
    }

    /// Lets the kernel cache attributes for `attr` and names for `entry` (as
    /// libfuse's `attr_timeout`/`entry_timeout`): fewer requests, but a change made
    /// to the source directly, or a ctime a link or unlink changes, is seen only
    /// once the time is up.
    pub fn with_cache(mut self, attr: Duration, entry: Duration) -> MirrorFs {
        self.attr_ttl = attr;
        self.entry_ttl = entry;
        self
    }

    /// What was journaled so far.
    pub fn counters(&self) -> CaptureCounters {
        self.sink.counters()
    }

    /// The mount-relative path of `name` in `parent` (for events).
    fn path_of(&self, parent: &Inode, name: Option<&OsStr>) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        let dir = std::fs::read_link(parent.proc_path()).unwrap_or_default();
        let dir = dir.as_os_str().as_bytes();
        let mut path = dir.get(self.root_len..).unwrap_or_default().to_vec();
        if let Some(name) = name {
            path.push(b'/');
            path.extend_from_slice(name.as_bytes());
        }
        if path.is_empty() {
            path.push(b'/');
        }
        path
    }

    /// Says once that the open-file limit stops lookups (one descriptor per inode the
    /// kernel knows), and what to do.
    fn out_of_descriptors(&self) {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
            eprintln!(
                "vexjournal mount: out of file descriptors (limit {limit:?}): the mirror holds \
                 one per inode the kernel knows; lookups fail with EMFILE until the kernel \
                 forgets some. Raise the hard limit (LimitNOFILE=, ulimit -Hn; root with \
                 CAP_SYS_RESOURCE raises it itself)."
            );
        });
    }

    /// Journals one operation, if the capture configuration wants it.
    fn record(&self, req: &Request, ev: FsEvent) -> Recorded {
        self.sink.record(&Caller::from(req), ev)
    }

    /// `ev` with the inode number and type of `name` in `dir`, when it exists.
    fn about(&self, ev: FsEvent, dir: &OwnedFd, name: &OsStr) -> FsEvent {
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => ev.ino(self.inodes.id_of(&st)).kind(st.st_mode),
            Err(_) => ev,
        }
    }

    /// Journals `ev` with the outcome `r`, and passes `r` on.
    fn step(&self, req: &Request, ev: FsEvent, r: Result<(), Errno>) -> Result<(), Errno> {
        self.record(req, ev.result(&r));
        r
    }

    /// A metadata read (`metadata_reads = true`): one event with its result.
    fn metadata_read<T>(
        &self,
        req: &Request,
        inode: &Inode,
        ino: u64,
        subtype: FsSubtype,
        r: &Result<T, Errno>,
    ) {
        if self.capture.metadata_reads {
            let ev = FsEvent::new(FsOp::Read, self.path_of(inode, None))
                .subtype(subtype)
                .ino(ino)
                .result(r);
            self.record(req, ev);
        }
    }

    /// Ends an operation that made `name` in `parent` (mkdir, symlink, link, mknod):
    /// journals it with the new object's nodeid and type, and replies its entry.
    fn made(
        &self,
        req: &Request,
        ev: FsEvent,
        parent: &Inode,
        name: &OsStr,
        made: Result<(), Errno>,
        reply: ReplyEntry,
    ) {
        let found = made.and_then(|()| self.inodes.lookup(parent, name).map_err(errno));
        let ev = match &found {
            Ok((id, st)) => ev.ino(*id).kind(st.st_mode),
            Err(e) => ev.errno(e.code()),
        };
        self.record(req, ev);
        match found {
            Ok((id, st)) => reply.entry_with_ttls(
                &self.attr_ttl,
                &self.entry_ttl,
                &attr(id, &st),
                Generation(0),
            ),
            Err(e) => reply.error(e),
        }
    }

    /// Sets the mode of `name` in `dir`, just created with `mode`, exactly: the
    /// kernel applied the caller's umask already, and the daemon's must not narrow it;
    /// set-id bits may have gone with the change of owner.
    fn exact_mode(&self, dir: &OwnedFd, name: &OsStr, mode: u32) {
        if mode & ((self.daemon_umask & 0o777) | 0o6000) != 0 {
            let _ = rustix::fs::chmodat(
                dir,
                name,
                Mode::from_bits_truncate(mode & 0o7777),
                AtFlags::empty(),
            );
        }
    }

    fn parent(&self, ino: INodeNo) -> Result<Arc<Inode>, Errno> {
        self.inodes.get(ino.0).ok_or(Errno::ENOENT)
    }

    fn handle(&self, fh: FileHandle) -> Result<Arc<Handle>, Errno> {
        self.handles
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&fh.0)
            .cloned()
            .ok_or(Errno::EBADF)
    }

    /// The handle `fh` and the lock file description of `owner` on inode `ino`
    /// (opened on first use, with the handle's access mode: a write lock needs a
    /// file open for writing).
    fn lock_file(
        &self,
        fh: FileHandle,
        ino: u64,
        owner: u64,
    ) -> Result<(Arc<Handle>, Arc<File>), Errno> {
        let h = self.handle(fh)?;
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = locks.get(&(ino, owner)) {
            return Ok((h, Arc::clone(f)));
        }
        let mode = rustix::fs::fcntl_getfl(&h.file).map_err(errno)? & OFlags::RWMODE;
        let mut o = OpenOptions::new();
        if mode == OFlags::RDONLY {
            o.read(true);
        } else if mode == OFlags::WRONLY {
            o.write(true);
        } else {
            o.read(true).write(true);
        }
        use std::os::fd::AsRawFd;
        let f = o
            .open(format!("/proc/self/fd/{}", h.file.as_raw_fd()))
            .map_err(|e| io_errno(&e))?;
        let f = Arc::new(f);
        locks.insert((ino, owner), Arc::clone(&f));
        Ok((h, f))
    }

    /// Registers a file created here (served by the daemon).
    fn add_handle(&self, file: File, inode: Arc<Inode>, st: &Stat) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::SeqCst);
        inode.open.lock().unwrap_or_else(|p| p.into_inner()).plain += 1;
        let before = (self.capture.write == WriteCapture::Close).then(|| size_mtime(st));
        self.insert_handle(fh, file, inode, None, before);
        fh
    }

    fn insert_handle(
        &self,
        fh: u64,
        file: File,
        inode: Arc<Inode>,
        backing: Option<Arc<fuser::BackingId>>,
        before: Option<(u64, i64)>,
    ) {
        self.handles
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                fh,
                Arc::new(Handle {
                    file,
                    inode,
                    backing,
                    before,
                }),
            );
    }
}

fn open_options(flags: i32) -> OpenOptions {
    let mut o = OpenOptions::new();
    match flags & 0o3 {
        0 => o.read(true),
        1 => o.write(true),
        _ => o.read(true).write(true),
    };
    if flags & 0o2000 != 0 {
        o.append(true);
    }
    // O_CREAT/O_EXCL/O_TRUNC/O_NOFOLLOW are applied by the kernel or by create.
    o.custom_flags(flags & !(0o3 | 0o100 | 0o200 | 0o1000 | 0o2000 | 0o400000));
    o
}

impl Filesystem for MirrorFs {
    fn init(&mut self, _req: &Request, config: &mut fuser::KernelConfig) -> std::io::Result<()> {
        // Passthrough, when the kernel has it: reads of files opened read-only then go
        // straight to the source file. A source on a stacking file system (overlayfs)
        // needs depth 2; ext4 and the like 1. Never the writeback cache: it would turn
        // passthrough off and delay writes past their events.
        // POSIX record locks go to the source (`setlk`); flock(2) stays the kernel's.
        if config
            .add_capabilities(fuser::InitFlags::FUSE_POSIX_LOCKS)
            .is_err()
        {
            eprintln!("vexjournal mount: the kernel keeps POSIX locks local to the mount");
        }
        let granted = config
            .add_capabilities(fuser::InitFlags::FUSE_PASSTHROUGH)
            .is_ok()
            && config.set_max_stack_depth(2).is_ok();
        self.passthrough.store(granted, Ordering::Relaxed);
        self.system_event(SystemOp::Mount, granted);
        Ok(())
    }

    fn destroy(&mut self) {
        self.system_event(SystemOp::Unmount, false);
        if let Err(e) = self.sink.journal().sync() {
            eprintln!("vexjournal mount: syncing the journal at unmount: {e}");
        }
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let p = match self.parent(parent) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let found = self.inodes.lookup(&p, name).map_err(errno);
        if found.as_ref().err() == Some(&Errno::EMFILE) {
            self.out_of_descriptors();
        }
        if self.capture.metadata_reads {
            let mut ev = FsEvent::new(FsOp::Read, self.path_of(&p, Some(name)))
                .subtype(FsSubtype::Lookup)
                .result(&found);
            if let Ok((id, st)) = &found {
                ev = ev.ino(*id).kind(st.st_mode);
            }
            self.record(req, ev);
        }
        match found {
            Ok((id, st)) => reply.entry_with_ttls(
                &self.attr_ttl,
                &self.entry_ttl,
                &attr(id, &st),
                Generation(0),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.inodes.forget(ino.0, nlookup);
    }

    fn getattr(&self, req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let inode = match self.parent(ino) {
            Ok(i) => i,
            Err(e) => return reply.error(e),
        };
        let st = inode.stat().map_err(errno);
        if self.capture.metadata_reads {
            let ev = FsEvent::new(FsOp::Read, self.path_of(&inode, None))
                .subtype(FsSubtype::Getattr)
                .ino(ino.0)
                .result(&st);
            self.record(req, ev);
        }
        match st {
            Ok(st) => reply.attr(&self.attr_ttl, &attr(ino.0, &st)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let inode = match self.parent(ino) {
            Ok(i) => i,
            Err(e) => return reply.error(e),
        };
        let path = self.path_of(&inode, None);
        // Each change is one event, failures included; the first failure stops.
        let done = (|| {
            if let Some(size) = size {
                let r = match fh.map(|fh| self.handle(fh)) {
                    Some(Ok(h)) => h.file.set_len(size).map_err(|e| io_errno(&e)),
                    _ => OpenOptions::new()
                        .write(true)
                        .open(inode.proc_path())
                        .and_then(|f| f.set_len(size))
                        .map_err(|e| io_errno(&e)),
                };
                let ev = FsEvent::new(FsOp::Truncate, path.clone())
                    .ino(ino.0)
                    .field("size", size);
                self.step(req, ev, r)?;
            }
            if uid.is_some() || gid.is_some() {
                let owner = uid.map(rustix::fs::Uid::from_raw);
                let group = gid.map(rustix::fs::Gid::from_raw);
                let r = rustix::fs::chownat(&inode.fd, "", owner, group, AtFlags::EMPTY_PATH)
                    .map_err(errno);
                let mut ev = FsEvent::new(FsOp::Chown, path.clone()).ino(ino.0);
                if let Some(u) = uid {
                    ev = ev.field("new_uid", u);
                }
                if let Some(g) = gid {
                    ev = ev.field("new_gid", g);
                }
                self.step(req, ev, r)?;
            }
            if atime.is_some() || mtime.is_some() {
                let times = rustix::fs::Timestamps {
                    last_access: timespec(atime),
                    last_modification: timespec(mtime),
                };
                let r = rustix::fs::utimensat(
                    rustix::fs::CWD,
                    inode.proc_path(),
                    &times,
                    AtFlags::empty(),
                )
                .map_err(errno);
                let ev = FsEvent::new(FsOp::Chmod, path.clone())
                    .subtype(FsSubtype::Utimens)
                    .ino(ino.0);
                self.step(req, ev, r)?;
            }
            if let Some(mode) = mode {
                let r = rustix::fs::chmodat(
                    rustix::fs::CWD,
                    inode.proc_path(),
                    Mode::from_bits_truncate(mode & 0o7777),
                    AtFlags::empty(),
                )
                .map_err(errno);
                let ev = FsEvent::new(FsOp::Chmod, path.clone())
                    .ino(ino.0)
                    .field("mode", mode & 0o7777);
                self.step(req, ev, r)?;
            }
            Ok(())
        })();
        match done.and_then(|()| inode.stat().map_err(errno)) {
            Ok(st) => reply.attr(&self.attr_ttl, &attr(ino.0, &st)),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        let inode = match self.parent(ino) {
            Ok(i) => i,
            Err(e) => return reply.error(e),
        };
        let target = rustix::fs::readlinkat(&inode.fd, "", Vec::new()).map_err(errno);
        self.metadata_read(req, &inode, ino.0, FsSubtype::Readlink, &target);
        match target {
            Ok(target) => reply.data(target.as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let (p, dir) = match self.dir_of(parent) {
            Ok(x) => x,
            Err(e) => return reply.error(e),
        };
        let mode = mode & !umask;
        let made = rustix::fs::mkdirat(&dir, name, Mode::from_bits_truncate(mode)).map_err(errno);
        if made.is_ok() {
            self.give_to_caller(req, &p, &dir, name);
            self.exact_mode(&dir, name, mode);
        }
        self.made(
            req,
            FsEvent::new(FsOp::Mkdir, self.path_of(&p, Some(name))),
            &p,
            name,
            made,
            reply,
        );
    }

    fn unlink(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(req, parent, name, AtFlags::empty(), FsOp::Delete, reply);
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(req, parent, name, AtFlags::REMOVEDIR, FsOp::Rmdir, reply);
    }

    fn rename(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let (p, np) = match (self.parent(parent), self.parent(newparent)) {
            (Ok(p), Ok(np)) => (p, np),
            (Err(e), _) | (_, Err(e)) => return reply.error(e),
        };
        let (d, nd) = match (dir_fd(&p), dir_fd(&np)) {
            (Ok(d), Ok(nd)) => (d, nd),
            (Err(e), _) | (_, Err(e)) => return reply.error(errno(e)),
        };
        let bits = flags.bits();
        let flags = rustix::fs::RenameFlags::from_bits_truncate(bits);
        let mut ev = FsEvent::new(FsOp::Rename, self.path_of(&p, Some(name)))
            .to(self.path_of(&np, Some(newname)));
        ev = self.about(ev, &d, name);
        if bits != 0 {
            ev = ev.field("flags", bits);
        }
        let r = rustix::fs::renameat_with(&d, name, &nd, newname, flags).map_err(errno);
        match self.step(req, ev, r) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let inode = match self.parent(ino) {
            Ok(i) => i,
            Err(e) => return reply.error(e),
        };
        let writing = flags.0 & 0o3 != 0;
        // Passthrough when no per-operation event is wanted for this open.
        let may_pass = if writing {
            self.capture.write != WriteCapture::Every
        } else {
            self.capture.read != ReadCapture::Every
        };
        let op = if writing { FsOp::Write } else { FsOp::Read };
        let opened = open_options(flags.0)
            .open(inode.proc_path())
            .map_err(|e| io_errno(&e));
        // Handle numbers are never reused: one number is one causality chain.
        let fh = self.next_fh.fetch_add(1, Ordering::SeqCst);
        let wanted = if writing {
            self.capture.write != WriteCapture::Off
        } else {
            self.capture.read != ReadCapture::Off
        };
        if wanted {
            let ev = FsEvent::new(op, self.path_of(&inode, None))
                .subtype(FsSubtype::Open)
                .ino(ino.0)
                .chain(fh)
                .result(&opened);
            self.record(req, ev);
        }
        let file = match opened {
            Ok(file) => file,
            Err(e) => return reply.error(e),
        };
        // Read-only opens go through the kernel (no per-read events by default); so
        // does every open of an inode that already has a backing file, as the kernel
        // requires. Others are served here, so their writes are journaled one by one.
        let mut state = inode.open.lock().unwrap_or_else(|p| p.into_inner());
        let backing = match state.backing.upgrade() {
            Some(b) => Some(b),
            None if may_pass && state.plain == 0 && self.passthrough.load(Ordering::Relaxed) => {
                match backing_file(&inode).and_then(|f| reply.open_backing(&f)) {
                    Ok(id) => {
                        let id = Arc::new(id);
                        state.backing = Arc::downgrade(&id);
                        Some(id)
                    }
                    Err(e) => {
                        if e.raw_os_error() == Some(1) {
                            // EPERM: no CAP_SYS_ADMIN; serve every open here from now on.
                            self.passthrough.store(false, Ordering::Relaxed);
                        }
                        None
                    }
                }
            }
            None => None,
        };
        if backing.is_none() {
            state.plain += 1;
        }
        drop(state);
        let before = (writing && self.capture.write == WriteCapture::Close)
            .then(|| inode.stat().ok().map(|st| size_mtime(&st)))
            .flatten();
        match backing {
            Some(id) => {
                // Registered before the reply: the release can come from another thread
                // as soon as the kernel has the reply.
                self.insert_handle(fh, file, inode, Some(id.clone()), before);
                reply.opened_passthrough(FileHandle(fh), FopenFlags::empty(), &id);
            }
            None => {
                self.insert_handle(fh, file, inode, None, before);
                reply.opened(FileHandle(fh), FopenFlags::empty());
            }
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let (p, dir) = match self.dir_of(parent) {
            Ok(x) => x,
            Err(e) => return reply.error(e),
        };
        let oflags = OFlags::from_bits_truncate(flags as u32) | OFlags::CREATE | OFlags::CLOEXEC;
        let mode = mode & !umask & 0o7777;
        let perm = Mode::from_bits_truncate(mode);
        let path = self.path_of(&p, Some(name));
        // Created here, or opened because it already existed (O_CREAT without O_EXCL)?
        let opened = match rustix::fs::openat(&dir, name, oflags | OFlags::EXCL, perm) {
            Ok(fd) => {
                self.give_to_caller(req, &p, &dir, name);
                self.exact_mode(&dir, name, mode);
                Ok(fd)
            }
            Err(rustix::io::Errno::EXIST) if !oflags.contains(OFlags::EXCL) => {
                rustix::fs::openat(&dir, name, oflags - OFlags::CREATE, perm)
            }
            Err(e) => Err(e),
        }
        .map_err(errno)
        .and_then(|fd| {
            let (id, st) = self.inodes.lookup(&p, name).map_err(errno)?;
            let inode = self.inodes.get(id).ok_or(Errno::ENOENT)?;
            Ok((fd, id, st, inode))
        });
        let (fd, id, st, inode) = match opened {
            Ok(x) => x,
            Err(e) => {
                self.record(req, FsEvent::new(FsOp::Create, path).errno(e.code()));
                return reply.error(e);
            }
        };
        let fh = self.add_handle(File::from(fd), inode, &st);
        let ev = FsEvent::new(FsOp::Create, path)
            .ino(id)
            .kind(st.st_mode)
            .chain(fh)
            .field("mode", mode);
        self.record(req, ev);
        reply.created(
            &self.attr_ttl.min(self.entry_ttl),
            &attr(id, &st),
            Generation(0),
            FileHandle(fh),
            FopenFlags::empty(),
        );
    }

    fn read(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let h = match self.handle(fh) {
            Ok(h) => h,
            Err(e) => return reply.error(e),
        };
        let mut buf = vec![0u8; size as usize];
        let mut done = 0;
        while done < buf.len() {
            match h.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return reply.error(io_errno(&e)),
            }
        }
        if self.capture.read == ReadCapture::Every
            && let Some(inode) = self.inodes.get(ino.0)
        {
            let ev = FsEvent::new(FsOp::Read, self.path_of(&inode, None))
                .ino(ino.0)
                .chain(fh.0)
                .io(offset, done as u64);
            self.record(req, ev);
        }
        reply.data(&buf[..done]);
    }

    fn write(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let written = self
            .handle(fh)
            .and_then(|h| h.file.write_at(data, offset).map_err(|e| io_errno(&e)));
        if self.capture.write == WriteCapture::Every
            && let Some(inode) = self.inodes.get(ino.0)
        {
            let len = written.as_ref().map_or(data.len(), |n| *n);
            let ev = FsEvent::new(FsOp::Write, self.path_of(&inode, None))
                .ino(ino.0)
                .chain(fh.0)
                .io(offset, len as u64)
                .result(&written);
            self.record(req, ev);
        }
        match written {
            Ok(n) => reply.written(u32::try_from(n).unwrap_or(u32::MAX)),
            Err(e) => reply.error(e),
        }
    }

    fn fsync(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let h = match self.handle(fh) {
            Ok(h) => h,
            Err(e) => return reply.error(e),
        };
        let r = if datasync {
            h.file.sync_data()
        } else {
            h.file.sync_all()
        }
        .map_err(|e| io_errno(&e));
        let ev = FsEvent::new(FsOp::Write, self.path_of(&h.inode, None))
            .subtype(FsSubtype::Fsync)
            .ino(ino.0)
            .chain(fh.0)
            .field("datasync", datasync);
        let _ = self.step(req, ev, r);
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn release(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let handle = self
            .handles
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&fh.0);
        if let Some(h) = handle {
            if h.backing.is_none() {
                let mut state = h.inode.open.lock().unwrap_or_else(|p| p.into_inner());
                state.plain = state.plain.saturating_sub(1);
            }
            // `write = "close"`: one event per file written, like fanotify's CLOSE_WRITE.
            if let Some((size, mtime)) = h.before
                && let Ok(st) = h.inode.stat()
            {
                let (size_after, mtime_after) = size_mtime(&st);
                let ev = FsEvent::new(FsOp::Write, self.path_of(&h.inode, None))
                    .subtype(FsSubtype::Close)
                    .ino(ino.0)
                    .chain(fh.0)
                    .field("size_before", size)
                    .field("size_after", size_after)
                    .field("mtime_before_ns", mtime)
                    .field("mtime_after_ns", mtime_after);
                self.record(req, ev);
            }
        }
        reply.ok();
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        let (p, dir) = match self.dir_of(parent) {
            Ok(x) => x,
            Err(e) => return reply.error(e),
        };
        let made = rustix::fs::symlinkat(target, &dir, link_name).map_err(errno);
        if made.is_ok() {
            self.give_to_caller(req, &p, &dir, link_name);
        }
        use std::os::unix::ffi::OsStrExt;
        let ev = FsEvent::new(FsOp::Symlink, self.path_of(&p, Some(link_name))).field(
            "target",
            String::from_utf8_lossy(target.as_os_str().as_bytes()).into_owned(),
        );
        self.made(req, ev, &p, link_name, made, reply);
    }

    fn link(
        &self,
        req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let inode = match self.parent(ino) {
            Ok(i) => i,
            Err(e) => return reply.error(e),
        };
        let (np, dir) = match self.dir_of(newparent) {
            Ok(x) => x,
            Err(e) => return reply.error(e),
        };
        let made =
            rustix::fs::linkat(&inode.fd, "", &dir, newname, AtFlags::EMPTY_PATH).map_err(errno);
        // The path is the new name; `to`... the existing one is in `from`.
        let ev = FsEvent::new(FsOp::Hardlink, self.path_of(&np, Some(newname))).field(
            "from",
            String::from_utf8_lossy(&self.path_of(&inode, None)).into_owned(),
        );
        self.made(req, ev, &np, newname, made, reply);
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let (p, dir) = match self.dir_of(parent) {
            Ok(x) => x,
            Err(e) => return reply.error(e),
        };
        let file_type = rustix::fs::FileType::from_raw_mode(mode);
        let perm = mode & !umask & 0o7777;
        let made = rustix::fs::mknodat(
            &dir,
            name,
            file_type,
            Mode::from_bits_truncate(perm),
            u64::from(rdev),
        )
        .map_err(errno);
        if made.is_ok() {
            self.give_to_caller(req, &p, &dir, name);
            self.exact_mode(&dir, name, perm);
        }
        let ev = FsEvent::new(FsOp::Create, self.path_of(&p, Some(name)))
            .subtype(FsSubtype::Mknod)
            .kind(mode);
        self.made(req, ev, &p, name, made, reply);
    }

    fn statfs(&self, req: &Request, ino: INodeNo, reply: fuser::ReplyStatfs) {
        let inode = match self.parent(ino) {
            Ok(i) => i,
            Err(e) => return reply.error(e),
        };
        let st = rustix::fs::fstatfs(&inode.fd).map_err(errno);
        self.metadata_read(req, &inode, ino.0, FsSubtype::Statfs, &st);
        match st {
            Ok(st) => reply.statfs(
                st.f_blocks,
                st.f_bfree,
                st.f_bavail,
                st.f_files,
                st.f_ffree,
                u32::try_from(st.f_bsize).unwrap_or(4096),
                u32::try_from(st.f_namelen).unwrap_or(255),
                u32::try_from(st.f_frsize).unwrap_or(4096),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn setxattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        let inode = match self.parent(ino) {
            Ok(i) => i,
            Err(e) => return reply.error(e),
        };
        let flags = rustix::fs::XattrFlags::from_bits_truncate(flags as u32);
        let r = rustix::fs::setxattr(inode.proc_path(), name, value, flags).map_err(errno);
        let ev = FsEvent::new(FsOp::Chmod, self.path_of(&inode, None))
            .ino(ino.0)
            .subtype(FsSubtype::Setxattr)
            .field("name", name.to_string_lossy().into_owned())
            .field("len", value.len());
        match self.step(req, ev, r) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn getxattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name: &OsStr,
        size: u32,
        reply: fuser::ReplyXattr,
    ) {
        let inode = match self.parent(ino) {
            Ok(i) => i,
            Err(e) => return reply.error(e),
        };
        let got = if size == 0 {
            rustix::fs::getxattr_query(inode.proc_path(), name).map(|n| (n, Vec::new()))
        } else {
            let mut buf = vec![0u8; size as usize];
            rustix::fs::getxattr(inode.proc_path(), name, &mut buf[..]).map(|n| (n, buf))
        }
        .map_err(errno);
        if self.capture.metadata_reads {
            let ev = FsEvent::new(FsOp::Read, self.path_of(&inode, None))
                .subtype(FsSubtype::Getxattr)
                .ino(ino.0)
                .field("name", name.to_string_lossy().into_owned())
                .result(&got);
            self.record(req, ev);
        }
        match got {
            Ok((n, _)) if size == 0 => reply.size(u32::try_from(n).unwrap_or(u32::MAX)),
            Ok((n, buf)) => reply.data(buf.get(..n).unwrap_or(&buf)),
            Err(e) => reply.error(e),
        }
    }

    fn listxattr(&self, req: &Request, ino: INodeNo, size: u32, reply: fuser::ReplyXattr) {
        let inode = match self.parent(ino) {
            Ok(i) => i,
            Err(e) => return reply.error(e),
        };
        let got = if size == 0 {
            rustix::fs::listxattr_query(inode.proc_path()).map(|n| (n, Vec::new()))
        } else {
            let mut buf = vec![0u8; size as usize];
            rustix::fs::listxattr(inode.proc_path(), &mut buf[..]).map(|n| (n, buf))
        }
        .map_err(errno);
        self.metadata_read(req, &inode, ino.0, FsSubtype::Listxattr, &got);
        match got {
            Ok((n, _)) if size == 0 => reply.size(u32::try_from(n).unwrap_or(u32::MAX)),
            Ok((n, buf)) => reply.data(buf.get(..n).unwrap_or(&buf)),
            Err(e) => reply.error(e),
        }
    }

    fn removexattr(&self, req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let inode = match self.parent(ino) {
            Ok(i) => i,
            Err(e) => return reply.error(e),
        };
        let r = rustix::fs::removexattr(inode.proc_path(), name).map_err(errno);
        let ev = FsEvent::new(FsOp::Chmod, self.path_of(&inode, None))
            .ino(ino.0)
            .subtype(FsSubtype::Removexattr)
            .field("name", name.to_string_lossy().into_owned());
        match self.step(req, ev, r) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Writes went to the source as they came (no writeback cache): nothing to
        // flush, and no event (the kernel sends one at every close(2)). A close drops
        // the closer's POSIX locks on the file, as POSIX says: closing its lock file
        // description does that at the source.
        self.locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(ino.0, lock_owner.0));
        reply.ok();
    }

    fn getlk(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        lock_owner: LockOwner,
        start: u64,
        end: u64,
        typ: i32,
        _pid: u32,
        reply: fuser::ReplyLock,
    ) {
        let tested = self.lock_file(fh, ino.0, lock_owner.0).and_then(|(h, f)| {
            let mut fl = flock(typ, start, end);
            nix::fcntl::fcntl(&*f, nix::fcntl::FcntlArg::F_OFD_GETLK(&mut fl))
                .map_err(|e| Errno::from_i32(e as i32))?;
            Ok((h, fl))
        });
        if let Ok((h, _)) = &tested {
            self.metadata_read(req, &h.inode, ino.0, FsSubtype::Getlk, &Ok::<(), Errno>(()));
        }
        match tested {
            Ok((_, fl)) if i32::from(fl.l_type) == libc::F_UNLCK => {
                reply.locked(start, end, libc::F_UNLCK, 0)
            }
            Ok((_, fl)) => {
                let from = u64::try_from(fl.l_start).unwrap_or(0);
                let to = match fl.l_len {
                    0 => u64::MAX,
                    n => from
                        .saturating_add(u64::try_from(n).unwrap_or(0))
                        .saturating_sub(1),
                };
                // An OFD lock has no owning process (-1): report none.
                let pid = u32::try_from(fl.l_pid).unwrap_or(0);
                reply.locked(from, to, i32::from(fl.l_type), pid)
            }
            Err(e) => reply.error(e),
        }
    }

    fn setlk(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        lock_owner: LockOwner,
        start: u64,
        end: u64,
        typ: i32,
        _pid: u32,
        sleep: bool,
        reply: ReplyEmpty,
    ) {
        let (h, f) = match self.lock_file(fh, ino.0, lock_owner.0) {
            Ok(x) => x,
            Err(e) => return reply.error(e),
        };
        let (op, kind) = match typ {
            libc::F_WRLCK => (FsOp::Write, "write"),
            libc::F_RDLCK => (FsOp::Read, "read"),
            _ => (FsOp::Read, "unlock"),
        };
        let ev = FsEvent::new(op, self.path_of(&h.inode, None))
            .subtype(FsSubtype::Setlk)
            .ino(ino.0)
            .chain(fh.0)
            .field("lock", kind)
            .field("start", start)
            .field("end", end)
            .field("wait", sleep);
        let fl = flock(typ, start, end);
        let set = move |f: &File, wait: bool| {
            let arg = if wait {
                nix::fcntl::FcntlArg::F_OFD_SETLKW(&fl)
            } else {
                nix::fcntl::FcntlArg::F_OFD_SETLK(&fl)
            };
            nix::fcntl::fcntl(f, arg).map(|_| ()).map_err(|e| match e {
                // F_SETLK's "held by another" is EAGAIN or EACCES; FUSE callers expect EAGAIN.
                nix::errno::Errno::EACCES => Errno::EAGAIN,
                e => Errno::from_i32(e as i32),
            })
        };
        if !sleep || typ == libc::F_UNLCK {
            let r = set(&f, false);
            return match self.step(req, ev, r) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            };
        }
        // A lock that waits must not hold an event-loop thread: wait on a thread of
        // its own and reply from there.
        let sink = Arc::clone(&self.sink);
        let caller = Caller::from(req);
        let spawned = std::thread::Builder::new()
            .name("vexfs-fuse-lock".into())
            .spawn(move || {
                let r = set(&f, true);
                sink.record(&caller, ev.result(&r));
                match r {
                    Ok(()) => reply.ok(),
                    Err(e) => reply.error(e),
                }
            });
        if spawned.is_err() {
            eprintln!("vexjournal mount: no thread for a waiting lock");
        }
    }

    fn fallocate(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let h = match self.handle(fh) {
            Ok(h) => h,
            Err(e) => return reply.error(e),
        };
        let flags = rustix::fs::FallocateFlags::from_bits_truncate(mode as u32);
        let r = rustix::fs::fallocate(&h.file, flags, offset, length).map_err(errno);
        let ev = FsEvent::new(FsOp::Write, self.path_of(&h.inode, None))
            .subtype(FsSubtype::Fallocate)
            .ino(ino.0)
            .chain(fh.0)
            .io(offset, length)
            .field("mode", mode);
        match self.step(req, ev, r) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: fuser::ReplyLseek,
    ) {
        let h = match self.handle(fh) {
            Ok(h) => h,
            Err(e) => return reply.error(e),
        };
        let Ok(at) = u64::try_from(offset) else {
            return reply.error(Errno::EINVAL);
        };
        let pos = match whence {
            3 => rustix::fs::SeekFrom::Data(at),
            4 => rustix::fs::SeekFrom::Hole(at),
            0 => rustix::fs::SeekFrom::Start(at),
            _ => return reply.error(Errno::EINVAL),
        };
        match rustix::fs::seek(&h.file, pos) {
            Ok(n) => reply.offset(i64::try_from(n).unwrap_or(i64::MAX)),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn copy_file_range(
        &self,
        req: &Request,
        _ino_in: INodeNo,
        fh_in: FileHandle,
        offset_in: u64,
        ino_out: INodeNo,
        fh_out: FileHandle,
        offset_out: u64,
        len: u64,
        _flags: fuser::CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        let (a, b) = match (self.handle(fh_in), self.handle(fh_out)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return reply.error(e),
        };
        let (mut off_in, mut off_out) = (offset_in, offset_out);
        let want = usize::try_from(len).unwrap_or(usize::MAX);
        let r = rustix::fs::copy_file_range(
            &a.file,
            Some(&mut off_in),
            &b.file,
            Some(&mut off_out),
            want,
        )
        .map_err(errno);
        let copied = r.as_ref().map_or(len, |n| *n as u64);
        let ev = FsEvent::new(FsOp::Write, self.path_of(&b.inode, None))
            .subtype(FsSubtype::CopyFileRange)
            .ino(ino_out.0)
            .chain(fh_out.0)
            .io(offset_out, copied)
            .field(
                "from",
                String::from_utf8_lossy(&self.path_of(&a.inode, None)).into_owned(),
            )
            .field("from_offset", offset_in)
            .result(&r);
        self.record(req, ev);
        match r {
            Ok(n) => reply.written(u32::try_from(n).unwrap_or(u32::MAX)),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let dir = self
            .dirs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&fh.0)
            .cloned();
        let Some(dir) = dir else {
            return reply.error(Errno::EBADF);
        };
        let mut entries = dir.entries.lock().unwrap_or_else(|p| p.into_inner());
        if offset == 0 {
            let listed = list_dir(&dir.inode, ino.0);
            self.metadata_read(req, &dir.inode, ino.0, FsSubtype::Readdir, &listed);
            match listed {
                Ok(list) => *entries = list,
                Err(e) => return reply.error(e),
            }
        }
        for (i, (ino, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), (i + 1) as u64, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: fuser::AccessFlags, reply: ReplyEmpty) {
        // With `default_permissions` (how this mirror mounts) the kernel answers
        // access(2) itself and never asks; this serves mounts without it.
        let inode = match self.parent(ino) {
            Ok(i) => i,
            Err(e) => return reply.error(e),
        };
        let r = inode.stat().map_err(errno).and_then(|st| {
            let want = mask.bits() as u32 & 0o7;
            if want == 0 || req.uid() == 0 {
                return Ok(());
            }
            let bits = if st.st_uid == req.uid() {
                (st.st_mode >> 6) & 0o7
            } else if st.st_gid == req.gid() {
                (st.st_mode >> 3) & 0o7
            } else {
                st.st_mode & 0o7
            };
            if bits & want == want {
                Ok(())
            } else {
                Err(Errno::EACCES)
            }
        });
        self.metadata_read(req, &inode, ino.0, FsSubtype::Access, &r);
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let inode = match self.parent(ino) {
            Ok(i) => i,
            Err(e) => return reply.error(e),
        };
        // Entries are listed at the first readdir (offset 0), so a rewind sees new ones.
        let fh = self.next_fh.fetch_add(1, Ordering::SeqCst);
        let dir = Arc::new(DirHandle {
            inode,
            entries: std::sync::Mutex::new(Vec::new()),
        });
        self.dirs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fh, dir);
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.dirs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let (inode, dir) = match self.dir_of(ino) {
            Ok(x) => x,
            Err(e) => return reply.error(e),
        };
        let r = if datasync {
            rustix::fs::fdatasync(&dir)
        } else {
            rustix::fs::fsync(&dir)
        }
        .map_err(errno);
        let ev = FsEvent::new(FsOp::Write, self.path_of(&inode, None))
            .subtype(FsSubtype::Fsyncdir)
            .ino(ino.0)
            .field("datasync", datasync);
        match self.step(req, ev, r) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

impl MirrorFs {
    /// A mount or unmount event (no caller: the daemon itself).
    fn system_event(&self, op: SystemOp, passthrough: bool) {
        let source = String::from_utf8_lossy(&self.source_path).into_owned();
        let mut meta = serde_json::json!({ "source": source, "passthrough": passthrough });
        if op == SystemOp::Unmount {
            // What this mount captured, for the operator and for tools.
            let c = self.sink.counters();
            meta["captured"] = c.captured.into();
            meta["filtered"] = c.filtered.into();
            meta["sampled_out"] = c.sampled_out.into();
            meta["dropped"] = c.dropped.into();
            meta["gaps"] = c.gaps.into();
        }
        let ev = vexfs_journal::Event::new(op)
            .path(self.source_path.clone())
            .metadata(meta.to_string().into_bytes());
        if self.sink.record_raw(ev) == Recorded::Dropped {
            eprintln!("vexjournal mount: journaling {op:?} failed");
        }
    }

    /// Gives `name` in `dir` (just created by this root daemon) to the caller, as the
    /// kernel would have: the caller's uid, and the caller's gid unless the directory
    /// is set-group-ID (then the directory's gid).
    fn give_to_caller(&self, req: &Request, parent: &Inode, dir: &OwnedFd, name: &OsStr) {
        let gid = match parent.stat() {
            Ok(st) if st.st_mode & 0o2000 != 0 => st.st_gid,
            _ => req.gid(),
        };
        if req.uid() == 0 && gid == 0 {
            return;
        }
        let owner = rustix::fs::Uid::from_raw(req.uid());
        let group = rustix::fs::Gid::from_raw(gid);
        if let Err(e) = rustix::fs::chownat(
            dir,
            name,
            Some(owner),
            Some(group),
            AtFlags::SYMLINK_NOFOLLOW,
        ) {
            eprintln!(
                "vexjournal mount: giving {name:?} to uid {}: {e}",
                req.uid()
            );
        }
    }

    /// Directory `ino` and a real descriptor of it.
    fn dir_of(&self, ino: INodeNo) -> Result<(Arc<Inode>, OwnedFd), Errno> {
        let p = self.parent(ino)?;
        let d = dir_fd(&p).map_err(errno)?;
        Ok((p, d))
    }

    fn remove(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        flags: AtFlags,
        op: FsOp,
        reply: ReplyEmpty,
    ) {
        let p = match self.parent(parent) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let dir = match dir_fd(&p) {
            Ok(d) => d,
            Err(e) => return reply.error(errno(e)),
        };
        let ev = self.about(FsEvent::new(op, self.path_of(&p, Some(name))), &dir, name);
        let r = rustix::fs::unlinkat(&dir, name, flags).map_err(errno);
        match self.step(req, ev, r) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

/// A real descriptor of directory `inode` (the `*at` calls that change a directory
/// refuse an `O_PATH` one).
fn dir_fd(inode: &Inode) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        inode.fd.as_fd(),
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// The file a passthrough open reads and writes: the source inode opened read-write
/// when allowed (later opens of the inode share it), read-only otherwise.
fn backing_file(inode: &Inode) -> std::io::Result<File> {
    let path = inode.proc_path();
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .or_else(|_| File::open(&path))
}

/// The entries of directory `inode` (nodeid `ino`): `.`, `..`, then the source's.
/// An entry's number is the source inode number, which is its nodeid (`inodes.rs`).
fn list_dir(inode: &Inode, ino: u64) -> Result<Vec<(u64, FileType, std::ffi::OsString)>, Errno> {
    use std::os::unix::fs::DirEntryExt;
    let rd = std::fs::read_dir(inode.proc_path()).map_err(|e| io_errno(&e))?;
    let mut all = vec![
        (ino, FileType::Directory, ".".into()),
        (ino, FileType::Directory, "..".into()),
    ];
    for entry in rd {
        let entry = entry.map_err(|e| io_errno(&e))?;
        let kind = entry
            .file_type()
            .ok()
            .and_then(FileType::from_std)
            .unwrap_or(FileType::RegularFile);
        all.push((entry.ino().max(2), kind, entry.file_name()));
    }
    Ok(all)
}

/// The `struct flock` of a FUSE lock request (`end` inclusive; `u64::MAX`: to EOF).
fn flock(typ: i32, start: u64, end: u64) -> libc::flock {
    let len = if end == u64::MAX || end >= i64::MAX as u64 {
        0
    } else {
        end.saturating_sub(start).saturating_add(1)
    };
    libc::flock {
        l_type: i16::try_from(typ).unwrap_or(libc::F_UNLCK as i16),
        l_whence: libc::SEEK_SET as i16,
        l_start: i64::try_from(start).unwrap_or(i64::MAX),
        l_len: i64::try_from(len).unwrap_or(0),
        l_pid: 0,
    }
}

/// A `utimensat` time from a setattr's.
fn timespec(t: Option<TimeOrNow>) -> rustix::fs::Timespec {
    match t {
        None => rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        },
        Some(TimeOrNow::Now) => rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_NOW,
        },
        Some(TimeOrNow::SpecificTime(t)) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => rustix::fs::Timespec {
                tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(d.subsec_nanos()),
            },
            // Before 1970: whole seconds down, nanoseconds up.
            Err(e) => {
                let d = e.duration();
                let mut sec = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                let mut nsec = i64::from(d.subsec_nanos());
                if nsec > 0 {
                    sec -= 1;
                    nsec = 1_000_000_000 - nsec;
                }
                rustix::fs::Timespec {
                    tv_sec: sec,
                    tv_nsec: nsec,
                }
            }
        },
    }
}
