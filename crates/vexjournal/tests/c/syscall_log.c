/*
 * syscall_log.c: an LD_PRELOAD interposer for the power-cut test
 * (crates/vexjournal/tests/power_cut.rs).
 *
 * It wraps the libc entry points Rust's std calls for files on glibc and appends
 * one line per call that changes the tree under $VEXPC_ROOT to the file $VEXPC_LOG,
 * in the order the calls took effect (one mutex orders every record; writes and
 * namespace changes are logged while the mutex is held around the real call, so
 * their order in the log is their order in the page cache). Everything the process
 * writes to stdout is logged too, so each acknowledgement it prints is ordered
 * against the file-system operations before it.
 *
 * Records (paths relative to the root, "." for the root itself; paths and bytes in
 * lowercase hex):
 *   P <pid>                              process start
 *   ROOT <ino>                           inode of the root directory
 *   O <path> <ino> <f|d> <created> <trunc>   open (created: O_CREAT made the file)
 *   M <path> <ino>                       mkdir
 *   W <ino> <offset> <bytes>             write, pwrite or writev to a file of the tree
 *   T <ino> <length>                     ftruncate
 *   SB <token> <ino>                     fsync/fdatasync starts (ino 0: sync/syncfs)
 *   SE <token> <ino> <ok>                ... and returned (ok: 1 if it succeeded)
 *   R <from> <to>                        rename
 *   U <path>                             unlink
 *   D <path>                             rmdir
 *   OUT <bytes>                          bytes written to stdout
 *   X <what>                             a call the test's model does not cover,
 *                                        made on the tree (the test fails on it)
 *
 * Without both environment variables every wrapper only forwards the call.
 */
#define _GNU_SOURCE
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int enabled;
static int log_fd = -1;
static char root[PATH_MAX];
static size_t root_len;
static dev_t root_dev;
static unsigned long sync_tokens;

/* Inodes of the tree (open-addressing set; inodes are never removed). */
static ino_t *inodes;
static size_t inode_cap, inode_count;

/* The record being built. */
static char *buf;
static size_t buf_len, buf_cap;

#define DECLARE_REAL(ret, name, ...) static ret (*real_##name)(__VA_ARGS__)
DECLARE_REAL(int, open, const char *, int, ...);
DECLARE_REAL(int, open64, const char *, int, ...);
DECLARE_REAL(int, openat, int, const char *, int, ...);
DECLARE_REAL(int, openat64, int, const char *, int, ...);
DECLARE_REAL(ssize_t, write, int, const void *, size_t);
DECLARE_REAL(ssize_t, pwrite, int, const void *, size_t, off_t);
DECLARE_REAL(ssize_t, pwrite64, int, const void *, size_t, off64_t);
DECLARE_REAL(ssize_t, writev, int, const struct iovec *, int);
DECLARE_REAL(ssize_t, pwritev, int, const struct iovec *, int, off_t);
DECLARE_REAL(ssize_t, pwritev64, int, const struct iovec *, int, off64_t);
DECLARE_REAL(ssize_t, pwritev2, int, const struct iovec *, int, off_t, int);
DECLARE_REAL(ssize_t, pwritev64v2, int, const struct iovec *, int, off64_t, int);
DECLARE_REAL(int, ftruncate, int, off_t);
DECLARE_REAL(int, ftruncate64, int, off64_t);
DECLARE_REAL(int, truncate, const char *, off_t);
DECLARE_REAL(int, truncate64, const char *, off64_t);
DECLARE_REAL(int, fallocate, int, int, off_t, off_t);
DECLARE_REAL(int, fallocate64, int, int, off64_t, off64_t);
DECLARE_REAL(int, posix_fallocate, int, off_t, off_t);
DECLARE_REAL(int, posix_fallocate64, int, off64_t, off64_t);
DECLARE_REAL(ssize_t, copy_file_range, int, off64_t *, int, off64_t *, size_t, unsigned int);
DECLARE_REAL(ssize_t, sendfile, int, int, off_t *, size_t);
DECLARE_REAL(ssize_t, sendfile64, int, int, off64_t *, size_t);
DECLARE_REAL(int, fsync, int);
DECLARE_REAL(int, fdatasync, int);
DECLARE_REAL(int, sync_file_range, int, off64_t, off64_t, unsigned int);
DECLARE_REAL(void, sync, void);
DECLARE_REAL(int, syncfs, int);
DECLARE_REAL(int, rename, const char *, const char *);
DECLARE_REAL(int, renameat, int, const char *, int, const char *);
DECLARE_REAL(int, renameat2, int, const char *, int, const char *, unsigned int);
DECLARE_REAL(int, unlink, const char *);
DECLARE_REAL(int, unlinkat, int, const char *, int);
DECLARE_REAL(int, rmdir, const char *);
DECLARE_REAL(int, mkdir, const char *, mode_t);
DECLARE_REAL(int, mkdirat, int, const char *, mode_t);
DECLARE_REAL(int, link, const char *, const char *);
DECLARE_REAL(int, linkat, int, const char *, int, const char *, int);
DECLARE_REAL(int, symlink, const char *, const char *);
DECLARE_REAL(int, symlinkat, const char *, int, const char *);

/* Resolves a libc function the first time it is needed. */
#define RESOLVE(name)                                                             \
    do {                                                                          \
        if (!real_##name) {                                                       \
            void *p = dlsym(RTLD_NEXT, #name);                                    \
            if (!p) {                                                             \
                static const char msg[] = "syscall_log: cannot resolve " #name "\n"; \
                (void)!syscall_write_stderr(msg, sizeof msg - 1);                 \
                abort();                                                          \
            }                                                                     \
            memcpy(&real_##name, &p, sizeof p);                                   \
        }                                                                         \
    } while (0)

static ssize_t syscall_write_stderr(const char *msg, size_t len)
{
    /* Before real_write is known: best effort through the symbol we wrap. */
    void *p = dlsym(RTLD_NEXT, "write");
    ssize_t (*w)(int, const void *, size_t);
    if (!p)
        return -1;
    memcpy(&w, &p, sizeof p);
    return w(2, msg, len);
}

/* ---- the record buffer (callers hold the lock) ---- */

static void buf_reserve(size_t more)
{
    if (buf_len + more <= buf_cap)
        return;
    size_t cap = buf_cap ? buf_cap : 4096;
    while (cap < buf_len + more)
        cap *= 2;
    char *n = realloc(buf, cap);
    if (!n)
        abort();
    buf = n;
    buf_cap = cap;
}

static void put(const char *s)
{
    size_t n = strlen(s);
    buf_reserve(n);
    memcpy(buf + buf_len, s, n);
    buf_len += n;
}

static void put_u64(unsigned long long v)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, " %llu", v);
    put(tmp);
}

static void put_hex(const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    buf_reserve(2 * len + 1);
    buf[buf_len++] = ' ';
    for (size_t i = 0; i < len; i++) {
        buf[buf_len++] = digits[p[i] >> 4];
        buf[buf_len++] = digits[p[i] & 15];
    }
}

static void put_path(const char *rel)
{
    put_hex(rel, strlen(rel));
}

/* Writes the record built so far as one line and clears the buffer. */
static void flush_record(void)
{
    buf_reserve(1);
    buf[buf_len++] = '\n';
    size_t done = 0;
    while (done < buf_len) {
        ssize_t n = real_write(log_fd, buf + done, buf_len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            abort();
        done += (size_t)n;
    }
    buf_len = 0;
}

/* ---- the inode set ---- */

static size_t slot_of(ino_t ino, size_t cap)
{
    return (size_t)(ino * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

static void inode_add(ino_t ino)
{
    if (2 * (inode_count + 1) > inode_cap) {
        size_t cap = inode_cap ? 2 * inode_cap : 1024;
        ino_t *n = calloc(cap, sizeof *n);
        if (!n)
            abort();
        for (size_t i = 0; i < inode_cap; i++) {
            if (inodes[i]) {
                size_t s = slot_of(inodes[i], cap);
                while (n[s])
                    s = (s + 1) & (cap - 1);
                n[s] = inodes[i];
            }
        }
        free(inodes);
        inodes = n;
        inode_cap = cap;
    }
    size_t s = slot_of(ino, inode_cap);
    while (inodes[s]) {
        if (inodes[s] == ino)
            return;
        s = (s + 1) & (inode_cap - 1);
    }
    inodes[s] = ino;
    inode_count++;
}

static int inode_has(ino_t ino)
{
    if (!inode_cap)
        return 0;
    size_t s = slot_of(ino, inode_cap);
    while (inodes[s]) {
        if (inodes[s] == ino)
            return 1;
        s = (s + 1) & (inode_cap - 1);
    }
    return 0;
}

/* The inode of fd if it belongs to the tree, else 0. Callers hold the lock. */
static ino_t tree_inode(int fd)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_dev != root_dev)
        return 0;
    return inode_has(st.st_ino) ? st.st_ino : 0;
}

/* ---- paths ---- */

/* Makes `path` (relative to dirfd) absolute in out; 0 on success. */
static int absolute(int dirfd, const char *path, char *out, size_t cap)
{
    char base[PATH_MAX];
    if (!path)
        return -1;
    if (path[0] == '/') {
        if (strlen(path) >= cap)
            return -1;
        strcpy(out, path);
        return 0;
    }
    if (dirfd == AT_FDCWD) {
        if (!getcwd(base, sizeof base))
            return -1;
    } else {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
        ssize_t n = readlink(link, base, sizeof base - 1);
        if (n < 0)
            return -1;
        base[n] = 0;
    }
    if ((size_t)snprintf(out, cap, "%s/%s", base, path) >= cap)
        return -1;
    return 0;
}

/* Drops "//", "/./" and a trailing "/" or "/.". */
static void tidy(char *p)
{
    char *w = p;
    for (char *r = p; *r;) {
        if (r[0] == '/' && r[1] == '/') {
            r++;
        } else if (r[0] == '/' && r[1] == '.' && (r[2] == '/' || r[2] == 0)) {
            r += 2;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = 0;
}

/*
 * The path of (dirfd, path) relative to the root in rel ("." for the root): 1 if it
 * is in the tree, 0 if not.
 */
static int in_tree(int dirfd, const char *path, char *rel, size_t cap)
{
    char abs[PATH_MAX];
    if (!enabled || absolute(dirfd, path, abs, sizeof abs) != 0)
        return 0;
    tidy(abs);
    if (strncmp(abs, root, root_len) != 0)
        return 0;
    if (abs[root_len] == 0) {
        snprintf(rel, cap, ".");
        return 1;
    }
    if (abs[root_len] != '/')
        return 0;
    if (strlen(abs + root_len + 1) >= cap)
        return 0;
    strcpy(rel, abs + root_len + 1);
    return 1;
}

static void unsupported(const char *what)
{
    put("X ");
    put(what);
    flush_record();
}

/* ---- start ---- */

__attribute__((constructor)) static void start(void)
{
    RESOLVE(write);
    RESOLVE(open);
    const char *r = getenv("VEXPC_ROOT");
    const char *l = getenv("VEXPC_LOG");
    if (!r || !l || !*r || !*l)
        return;
    if (strlen(r) >= sizeof root)
        abort();
    strcpy(root, r);
    tidy(root);
    root_len = strlen(root);
    log_fd = real_open(l, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (log_fd < 0)
        abort();
    enabled = 1;
    struct stat st;
    pthread_mutex_lock(&lock);
    put("P");
    put_u64((unsigned long long)getpid());
    flush_record();
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        unsupported("root-missing");
    } else {
        root_dev = st.st_dev;
        inode_add(st.st_ino);
        put("ROOT");
        put_u64((unsigned long long)st.st_ino);
        flush_record();
    }
    pthread_mutex_unlock(&lock);
}

/* ---- opening ---- */

static int logged_open(int dirfd, const char *path, int flags, mode_t mode, int at,
                       int large)
{
    char rel[PATH_MAX];
    int fd;
    if (!in_tree(dirfd, path, rel, sizeof rel)) {
        if (at) {
            if (large) {
                RESOLVE(openat64);
                return real_openat64(dirfd, path, flags, mode);
            }
            RESOLVE(openat);
            return real_openat(dirfd, path, flags, mode);
        }
        if (large) {
            RESOLVE(open64);
            return real_open64(path, flags, mode);
        }
        RESOLVE(open);
        return real_open(path, flags, mode);
    }
    pthread_mutex_lock(&lock);
    struct stat before;
    int existed = fstatat(dirfd, path, &before, AT_SYMLINK_NOFOLLOW) == 0;
    if (at) {
        if (large) {
            RESOLVE(openat64);
            fd = real_openat64(dirfd, path, flags, mode);
        } else {
            RESOLVE(openat);
            fd = real_openat(dirfd, path, flags, mode);
        }
    } else if (large) {
        RESOLVE(open64);
        fd = real_open64(path, flags, mode);
    } else {
        RESOLVE(open);
        fd = real_open(path, flags, mode);
    }
    int saved = errno;
    if (fd >= 0) {
        struct stat st;
        if ((flags & O_TMPFILE) == O_TMPFILE) {
            unsupported("O_TMPFILE");
        } else if (fstat(fd, &st) == 0) {
            inode_add(st.st_ino);
            int accmode = flags & O_ACCMODE;
            int trunc = (flags & O_TRUNC) && existed && S_ISREG(st.st_mode) &&
                        (accmode == O_WRONLY || accmode == O_RDWR);
            put("O");
            put_path(rel);
            put_u64((unsigned long long)st.st_ino);
            put(S_ISDIR(st.st_mode) ? " d" : " f");
            put((flags & O_CREAT) && !existed ? " 1" : " 0");
            put(trunc ? " 1" : " 0");
            flush_record();
        }
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
    return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
        return (mode_t)va_arg(ap, int);
    return 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return logged_open(AT_FDCWD, path, flags, mode, 0, 0);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return logged_open(AT_FDCWD, path, flags, mode, 0, 1);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return logged_open(dirfd, path, flags, mode, 1, 0);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return logged_open(dirfd, path, flags, mode, 1, 1);
}

int creat(const char *path, mode_t mode)
{
    return logged_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 0, 0);
}

int creat64(const char *path, mode_t mode)
{
    return logged_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 0, 1);
}

/* ---- writing ---- */

/* Logs `len` bytes from iov (or buf) written to tree inode ino at off. */
static void log_write(ino_t ino, long long off, const struct iovec *iov, int iovcnt,
                      const void *data, size_t len)
{
    if (ino == 0) {
        put("OUT");
    } else {
        put("W");
        put_u64((unsigned long long)ino);
        put_u64((unsigned long long)off);
    }
    if (data) {
        put_hex(data, len);
    } else {
        /* Concatenate the first len bytes of the vector into one hex field. */
        static const char digits[] = "0123456789abcdef";
        buf_reserve(2 * len + 1);
        buf[buf_len++] = ' ';
        size_t left = len;
        for (int i = 0; i < iovcnt && left; i++) {
            const unsigned char *p = iov[i].iov_base;
            size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
            for (size_t j = 0; j < n; j++) {
                buf[buf_len++] = digits[p[j] >> 4];
                buf[buf_len++] = digits[p[j] & 15];
            }
            left -= n;
        }
    }
    flush_record();
}

/* The offset a write(2) to fd goes to. */
static long long current_offset(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_APPEND)) {
        struct stat st;
        return fstat(fd, &st) == 0 ? (long long)st.st_size : -1;
    }
    return (long long)lseek(fd, 0, SEEK_CUR);
}

ssize_t write(int fd, const void *data, size_t len)
{
    RESOLVE(write);
    if (!enabled)
        return real_write(fd, data, len);
    pthread_mutex_lock(&lock);
    ino_t ino = fd == 1 ? 0 : tree_inode(fd);
    if (fd != 1 && ino == 0) {
        pthread_mutex_unlock(&lock);
        return real_write(fd, data, len);
    }
    long long off = ino ? current_offset(fd) : 0;
    ssize_t n = real_write(fd, data, len);
    int saved = errno;
    if (n > 0)
        log_write(ino, off, NULL, 0, data, (size_t)n);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return n;
}

static ssize_t logged_pwrite(int fd, const void *data, size_t len, long long off, int large)
{
    ssize_t n;
    if (large)
        RESOLVE(pwrite64);
    else
        RESOLVE(pwrite);
    if (!enabled)
        return large ? real_pwrite64(fd, data, len, off) : real_pwrite(fd, data, len, off);
    pthread_mutex_lock(&lock);
    ino_t ino = tree_inode(fd);
    n = large ? real_pwrite64(fd, data, len, off) : real_pwrite(fd, data, len, off);
    int saved = errno;
    if (ino && n > 0)
        log_write(ino, off, NULL, 0, data, (size_t)n);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return n;
}

ssize_t pwrite(int fd, const void *data, size_t len, off_t off)
{
    return logged_pwrite(fd, data, len, off, 0);
}

ssize_t pwrite64(int fd, const void *data, size_t len, off64_t off)
{
    return logged_pwrite(fd, data, len, off, 1);
}

/* kind: 0 writev, 1 pwritev, 2 pwritev64, 3 pwritev2, 4 pwritev64v2 */
static ssize_t logged_writev(int kind, int fd, const struct iovec *iov, int iovcnt,
                             long long off, int flags)
{
    ssize_t n;
    switch (kind) {
    case 0: RESOLVE(writev); break;
    case 1: RESOLVE(pwritev); break;
    case 2: RESOLVE(pwritev64); break;
    case 3: RESOLVE(pwritev2); break;
    default: RESOLVE(pwritev64v2); break;
    }
#define CALL_WRITEV()                                                              \
    (kind == 0   ? real_writev(fd, iov, iovcnt)                                    \
     : kind == 1 ? real_pwritev(fd, iov, iovcnt, off)                              \
     : kind == 2 ? real_pwritev64(fd, iov, iovcnt, off)                            \
     : kind == 3 ? real_pwritev2(fd, iov, iovcnt, off, flags)                      \
                 : real_pwritev64v2(fd, iov, iovcnt, off, flags))
    if (!enabled)
        return CALL_WRITEV();
    pthread_mutex_lock(&lock);
    ino_t ino = fd == 1 ? 0 : tree_inode(fd);
    if (fd != 1 && ino == 0) {
        pthread_mutex_unlock(&lock);
        return CALL_WRITEV();
    }
    /* pwritev2 with offset -1 writes at the current offset. */
    if (ino && (kind == 0 || ((kind == 3 || kind == 4) && off == -1)))
        off = current_offset(fd);
    n = CALL_WRITEV();
#undef CALL_WRITEV
    int saved = errno;
    if (n > 0)
        log_write(ino, off, iov, iovcnt, NULL, (size_t)n);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return n;
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    return logged_writev(0, fd, iov, iovcnt, 0, 0);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    return logged_writev(1, fd, iov, iovcnt, off, 0);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off64_t off)
{
    return logged_writev(2, fd, iov, iovcnt, off, 0);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
    return logged_writev(3, fd, iov, iovcnt, off, flags);
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int iovcnt, off64_t off, int flags)
{
    return logged_writev(4, fd, iov, iovcnt, off, flags);
}

static int logged_ftruncate(int fd, long long len, int large)
{
    int r;
    if (large)
        RESOLVE(ftruncate64);
    else
        RESOLVE(ftruncate);
    if (!enabled)
        return large ? real_ftruncate64(fd, len) : real_ftruncate(fd, len);
    pthread_mutex_lock(&lock);
    ino_t ino = tree_inode(fd);
    r = large ? real_ftruncate64(fd, len) : real_ftruncate(fd, len);
    int saved = errno;
    if (ino && r == 0) {
        put("T");
        put_u64((unsigned long long)ino);
        put_u64((unsigned long long)len);
        flush_record();
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}

int ftruncate(int fd, off_t len)
{
    return logged_ftruncate(fd, len, 0);
}

int ftruncate64(int fd, off64_t len)
{
    return logged_ftruncate(fd, len, 1);
}

/* Calls the model does not cover: logged as X when they touch the tree. */
static void unsupported_fd(int fd, const char *what)
{
    if (!enabled)
        return;
    pthread_mutex_lock(&lock);
    if (tree_inode(fd))
        unsupported(what);
    pthread_mutex_unlock(&lock);
}

static void unsupported_path(int dirfd, const char *path, const char *what)
{
    char rel[PATH_MAX];
    if (!in_tree(dirfd, path, rel, sizeof rel))
        return;
    pthread_mutex_lock(&lock);
    unsupported(what);
    pthread_mutex_unlock(&lock);
}

int truncate(const char *path, off_t len)
{
    RESOLVE(truncate);
    unsupported_path(AT_FDCWD, path, "truncate");
    return real_truncate(path, len);
}

int truncate64(const char *path, off64_t len)
{
    RESOLVE(truncate64);
    unsupported_path(AT_FDCWD, path, "truncate64");
    return real_truncate64(path, len);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    RESOLVE(fallocate);
    unsupported_fd(fd, "fallocate");
    return real_fallocate(fd, mode, off, len);
}

int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
    RESOLVE(fallocate64);
    unsupported_fd(fd, "fallocate64");
    return real_fallocate64(fd, mode, off, len);
}

int posix_fallocate(int fd, off_t off, off_t len)
{
    RESOLVE(posix_fallocate);
    unsupported_fd(fd, "posix_fallocate");
    return real_posix_fallocate(fd, off, len);
}

int posix_fallocate64(int fd, off64_t off, off64_t len)
{
    RESOLVE(posix_fallocate64);
    unsupported_fd(fd, "posix_fallocate64");
    return real_posix_fallocate64(fd, off, len);
}

ssize_t copy_file_range(int in, off64_t *in_off, int out, off64_t *out_off, size_t len,
                        unsigned int flags)
{
    RESOLVE(copy_file_range);
    unsupported_fd(out, "copy_file_range");
    return real_copy_file_range(in, in_off, out, out_off, len, flags);
}

ssize_t sendfile(int out, int in, off_t *off, size_t len)
{
    RESOLVE(sendfile);
    unsupported_fd(out, "sendfile");
    return real_sendfile(out, in, off, len);
}

ssize_t sendfile64(int out, int in, off64_t *off, size_t len)
{
    RESOLVE(sendfile64);
    unsupported_fd(out, "sendfile64");
    return real_sendfile64(out, in, off, len);
}

/* ---- durability ---- */

/* Logs SB before and SE after a sync of ino (0: the whole file system). */
static unsigned long sync_begin(ino_t ino)
{
    pthread_mutex_lock(&lock);
    unsigned long token = ++sync_tokens;
    put("SB");
    put_u64((unsigned long long)getpid() * 1000000000ull + token);
    put_u64((unsigned long long)ino);
    flush_record();
    pthread_mutex_unlock(&lock);
    return token;
}

static void sync_end(unsigned long token, ino_t ino, int ok)
{
    pthread_mutex_lock(&lock);
    put("SE");
    put_u64((unsigned long long)getpid() * 1000000000ull + token);
    put_u64((unsigned long long)ino);
    put(ok ? " 1" : " 0");
    flush_record();
    pthread_mutex_unlock(&lock);
}

static int logged_sync(int fd, int data_only)
{
    if (data_only)
        RESOLVE(fdatasync);
    else
        RESOLVE(fsync);
    if (!enabled)
        return data_only ? real_fdatasync(fd) : real_fsync(fd);
    pthread_mutex_lock(&lock);
    ino_t ino = tree_inode(fd);
    pthread_mutex_unlock(&lock);
    if (!ino)
        return data_only ? real_fdatasync(fd) : real_fsync(fd);
    unsigned long token = sync_begin(ino);
    int r = data_only ? real_fdatasync(fd) : real_fsync(fd);
    int saved = errno;
    sync_end(token, ino, r == 0);
    errno = saved;
    return r;
}

int fsync(int fd)
{
    return logged_sync(fd, 0);
}

int fdatasync(int fd)
{
    return logged_sync(fd, 1);
}

int sync_file_range(int fd, off64_t off, off64_t len, unsigned int flags)
{
    RESOLVE(sync_file_range);
    unsupported_fd(fd, "sync_file_range");
    return real_sync_file_range(fd, off, len, flags);
}

void sync(void)
{
    RESOLVE(sync);
    if (!enabled) {
        real_sync();
        return;
    }
    unsigned long token = sync_begin(0);
    real_sync();
    sync_end(token, 0, 1);
}

int syncfs(int fd)
{
    RESOLVE(syncfs);
    if (!enabled)
        return real_syncfs(fd);
    unsigned long token = sync_begin(0);
    int r = real_syncfs(fd);
    int saved = errno;
    sync_end(token, 0, r == 0);
    errno = saved;
    return r;
}

/* ---- the namespace ---- */

/* kind: 0 rename, 1 renameat, 2 renameat2 */
static int logged_rename(int kind, int olddir, const char *from, int newdir, const char *to,
                         unsigned int flags)
{
    char rf[PATH_MAX], rt[PATH_MAX];
    switch (kind) {
    case 0: RESOLVE(rename); break;
    case 1: RESOLVE(renameat); break;
    default: RESOLVE(renameat2); break;
    }
#define CALL_RENAME()                                                              \
    (kind == 0   ? real_rename(from, to)                                           \
     : kind == 1 ? real_renameat(olddir, from, newdir, to)                         \
                 : real_renameat2(olddir, from, newdir, to, flags))
    int a = in_tree(olddir, from, rf, sizeof rf);
    int b = in_tree(newdir, to, rt, sizeof rt);
    if (!a && !b)
        return CALL_RENAME();
    pthread_mutex_lock(&lock);
    int r = CALL_RENAME();
#undef CALL_RENAME
    int saved = errno;
    if (r == 0) {
        if (!a || !b) {
            unsupported("rename-across-the-tree-boundary");
        } else if (flags & ~(unsigned int)RENAME_NOREPLACE) {
            unsupported("renameat2-flags");
        } else {
            put("R");
            put_path(rf);
            put_path(rt);
            flush_record();
        }
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}

int rename(const char *from, const char *to)
{
    return logged_rename(0, AT_FDCWD, from, AT_FDCWD, to, 0);
}

int renameat(int olddir, const char *from, int newdir, const char *to)
{
    return logged_rename(1, olddir, from, newdir, to, 0);
}

int renameat2(int olddir, const char *from, int newdir, const char *to, unsigned int flags)
{
    return logged_rename(2, olddir, from, newdir, to, flags);
}

/* kind: 0 unlink, 1 unlinkat, 2 rmdir */
static int logged_remove(int kind, int dirfd, const char *path, int flags)
{
    char rel[PATH_MAX];
    switch (kind) {
    case 0: RESOLVE(unlink); break;
    case 1: RESOLVE(unlinkat); break;
    default: RESOLVE(rmdir); break;
    }
#define CALL_REMOVE()                                                              \
    (kind == 0 ? real_unlink(path) : kind == 1 ? real_unlinkat(dirfd, path, flags) \
                                               : real_rmdir(path))
    if (!in_tree(dirfd, path, rel, sizeof rel))
        return CALL_REMOVE();
    pthread_mutex_lock(&lock);
    int r = CALL_REMOVE();
#undef CALL_REMOVE
    int saved = errno;
    if (r == 0) {
        int dir = kind == 2 || (kind == 1 && (flags & AT_REMOVEDIR));
        put(dir ? "D" : "U");
        put_path(rel);
        flush_record();
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}

int unlink(const char *path)
{
    return logged_remove(0, AT_FDCWD, path, 0);
}

int unlinkat(int dirfd, const char *path, int flags)
{
    return logged_remove(1, dirfd, path, flags);
}

int rmdir(const char *path)
{
    return logged_remove(2, AT_FDCWD, path, 0);
}

static int logged_mkdir(int dirfd, const char *path, mode_t mode, int at)
{
    char rel[PATH_MAX];
    if (at)
        RESOLVE(mkdirat);
    else
        RESOLVE(mkdir);
    if (!in_tree(dirfd, path, rel, sizeof rel))
        return at ? real_mkdirat(dirfd, path, mode) : real_mkdir(path, mode);
    pthread_mutex_lock(&lock);
    int r = at ? real_mkdirat(dirfd, path, mode) : real_mkdir(path, mode);
    int saved = errno;
    struct stat st;
    if (r == 0 && fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        inode_add(st.st_ino);
        put("M");
        put_path(rel);
        put_u64((unsigned long long)st.st_ino);
        flush_record();
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}

int mkdir(const char *path, mode_t mode)
{
    return logged_mkdir(AT_FDCWD, path, mode, 0);
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
    return logged_mkdir(dirfd, path, mode, 1);
}

int link(const char *from, const char *to)
{
    RESOLVE(link);
    unsupported_path(AT_FDCWD, to, "link");
    return real_link(from, to);
}

int linkat(int olddir, const char *from, int newdir, const char *to, int flags)
{
    RESOLVE(linkat);
    unsupported_path(newdir, to, "linkat");
    return real_linkat(olddir, from, newdir, to, flags);
}

int symlink(const char *target, const char *path)
{
    RESOLVE(symlink);
    unsupported_path(AT_FDCWD, path, "symlink");
    return real_symlink(target, path);
}

int symlinkat(const char *target, int dirfd, const char *path)
{
    RESOLVE(symlinkat);
    unsupported_path(dirfd, path, "symlinkat");
    return real_symlinkat(target, dirfd, path);
}
