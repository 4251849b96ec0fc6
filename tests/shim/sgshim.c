/*
 * LD_PRELOAD test shim: makes one device path (MTKSHIM_DEV) answer SG_IO from the
 * virtual drive served by `mtkflash sim serve --socket MTKSHIM_SOCK`, so unmodified
 * programs (Debian's btcflash, mtkflash's own SG_IO transport) can be run against it.
 *
 * Intercepted for that path only: open/open64/openat/openat64 (connect to the socket),
 * fstat/fstat64/__fxstat/__fxstat64 (report a block device, as /dev/srN is), ioctl
 * (SG_IO, SG_GET_RESERVED_SIZE, SG_GET_VERSION_NUM), close. sleep/usleep/nanosleep/
 * clock_nanosleep advance the drive's virtual clock instead of waiting, while a
 * connection is open. Everything else goes to the real libc.
 *
 * With MTKSHIM_MATCH=inode (for Wine) nothing is opened in its place: MTKSHIM_DEV is
 * an ordinary file that the Windows program opens through Wine (the wineserver opens
 * it and hands the client a copy of the descriptor), and ioctl answers SG_IO on any
 * descriptor of that file (same device and inode), connecting on first use. select()
 * with no descriptors (how Wine sleeps) is a virtual sleep too.
 *
 * Sleeps are virtual only on the thread that connected; the socket is used under a
 * lock, so other threads never interleave their messages.
 *
 * Test code only; never part of the shipped tool.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <scsi/sg.h>
#include <pthread.h>
#include <sys/select.h>

static int shim_fd = -1;
static pthread_t owner;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int inode_mode(void) {
    const char *m = getenv("MTKSHIM_MATCH");
    return m && strcmp(m, "inode") == 0;
}

static int is_dev(const char *path) {
    const char *d = getenv("MTKSHIM_DEV");
    return !inode_mode() && d && path && strcmp(d, path) == 0;
}

static int shim_connect(void) {
    const char *sp = getenv("MTKSHIM_SOCK");
    if (!sp) { errno = ENOENT; return -1; }
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0) return -1;
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, sp, sizeof a.sun_path - 1);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) { close(s); errno = ENXIO; return -1; }
    shim_fd = s;
    owner = pthread_self();
    return s;
}

static int wr(const void *b, size_t n) {
    const char *p = b;
    while (n) { ssize_t k = write(shim_fd, p, n); if (k <= 0) return -1; p += k; n -= (size_t)k; }
    return 0;
}
static int rd(void *b, size_t n) {
    char *p = b;
    while (n) { ssize_t k = read(shim_fd, p, n); if (k <= 0) return -1; p += k; n -= (size_t)k; }
    return 0;
}

#define REAL(name, ret, ...) \
    static ret (*real_##name)(__VA_ARGS__); \
    if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name);

int open(const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t m = va_arg(ap, int); va_end(ap);
    if (is_dev(path)) return shim_connect();
    REAL(open, int, const char *, int, ...);
    return real_open(path, flags, m);
}
int open64(const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t m = va_arg(ap, int); va_end(ap);
    if (is_dev(path)) return shim_connect();
    REAL(open64, int, const char *, int, ...);
    return real_open64(path, flags, m);
}
int openat(int dir, const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t m = va_arg(ap, int); va_end(ap);
    if (is_dev(path)) return shim_connect();
    REAL(openat, int, int, const char *, int, ...);
    return real_openat(dir, path, flags, m);
}
int openat64(int dir, const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t m = va_arg(ap, int); va_end(ap);
    if (is_dev(path)) return shim_connect();
    REAL(openat64, int, int, const char *, int, ...);
    return real_openat64(dir, path, flags, m);
}

static void fake_stat(struct stat *st) {
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFBLK | 0660;
    st->st_rdev = makedev(11, 0);
}
int fstat(int fd, struct stat *st) {
    if (fd >= 0 && fd == shim_fd) { fake_stat(st); return 0; }
    REAL(fstat, int, int, struct stat *);
    return real_fstat(fd, st);
}
int fstat64(int fd, struct stat64 *st) {
    if (fd >= 0 && fd == shim_fd) { fake_stat((struct stat *)st); return 0; }
    REAL(fstat64, int, int, struct stat64 *);
    return real_fstat64(fd, st);
}
int __fxstat(int ver, int fd, struct stat *st) {
    if (fd >= 0 && fd == shim_fd) { fake_stat(st); return 0; }
    REAL(__fxstat, int, int, int, struct stat *);
    return real___fxstat(ver, fd, st);
}
int __fxstat64(int ver, int fd, struct stat64 *st) {
    if (fd >= 0 && fd == shim_fd) { fake_stat((struct stat *)st); return 0; }
    REAL(__fxstat64, int, int, int, struct stat64 *);
    return real___fxstat64(ver, fd, st);
}

static int do_sg_io(sg_io_hdr_t *h) {
    uint8_t op = 'C', len = h->cmd_len, dir;
    uint32_t n = h->dxfer_len;
    switch (h->dxfer_direction) {
    case SG_DXFER_FROM_DEV: dir = 1; break;
    case SG_DXFER_TO_DEV: dir = 2; break;
    default: dir = 0; n = 0;
    }
    if (wr(&op, 1) || wr(&len, 1) || wr(h->cmdp, len) || wr(&dir, 1) || wr(&n, 4)) { errno = EIO; return -1; }
    if (dir == 2 && n && wr(h->dxferp, n)) { errno = EIO; return -1; }
    uint8_t status, slen; uint32_t dlen;
    uint8_t sense[256];
    if (rd(&status, 1) || rd(&slen, 1) || rd(sense, slen) || rd(&dlen, 4)) { errno = EIO; return -1; }
    if (dlen) {
        uint8_t *buf = malloc(dlen);
        if (!buf || rd(buf, dlen)) { free(buf); errno = EIO; return -1; }
        if (dir == 1) memcpy(h->dxferp, buf, dlen < h->dxfer_len ? dlen : h->dxfer_len);
        free(buf);
    }
    h->resid = (dir == 1 && dlen < h->dxfer_len) ? (int)(h->dxfer_len - dlen) : 0;
    h->host_status = 0; h->driver_status = 0; h->msg_status = 0; h->sb_len_wr = 0;
    h->duration = 1; h->info = SG_INFO_OK;
    if (status == 0xFF) {
        /* No answer. Wine passes only the SCSI status on and would make this GOOD; the
         * ioctl fails instead, which Wine turns into a failed DeviceIoControl, as
         * Windows does when a device does not answer. */
        if (inode_mode()) { errno = EIO; return -1; }
        h->status = 0; h->masked_status = 0; h->host_status = 0x07; h->info = SG_INFO_CHECK; return 0;
    }
    h->status = status; h->masked_status = status >> 1;
    if (slen) {
        size_t k = slen < h->mx_sb_len ? slen : h->mx_sb_len;
        memcpy(h->sbp, sense, k);
        h->sb_len_wr = (unsigned char)k;
        h->driver_status = 0x08; /* DRIVER_SENSE */
    }
    if (status || slen) h->info = SG_INFO_CHECK;
    return 0;
}

/* Inode mode: is `fd` a descriptor of MTKSHIM_DEV? */
static int same_file(int fd) {
    const char *d = getenv("MTKSHIM_DEV");
    struct stat a, b;
    REAL(fstat, int, int, struct stat *);
    if (!d || fd < 0 || real_fstat(fd, &a) != 0 || stat(d, &b) != 0) return 0;
    return S_ISREG(a.st_mode) && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int ioctl(int fd, unsigned long req, ...) {
    va_list ap; va_start(ap, req); void *arg = va_arg(ap, void *); va_end(ap);
    if (inode_mode() && fd >= 0 && fd != shim_fd && same_file(fd)) {
        pthread_mutex_lock(&lock);
        int ok = shim_fd >= 0 || shim_connect() >= 0;
        int r = -1;
        if (!ok) errno = EIO;
        else if (req == SG_IO) r = do_sg_io((sg_io_hdr_t *)arg);
        else if (req == SG_GET_RESERVED_SIZE) { *(int *)arg = 65536; r = 0; }
        else if (req == SG_GET_VERSION_NUM) { *(int *)arg = 30536; r = 0; }
        else errno = ENOTTY;
        pthread_mutex_unlock(&lock);
        return r;
    }
    if (fd >= 0 && fd == shim_fd) {
        if (req == SG_IO) {
            pthread_mutex_lock(&lock);
            int r = do_sg_io((sg_io_hdr_t *)arg);
            pthread_mutex_unlock(&lock);
            return r;
        }
        if (req == SG_GET_RESERVED_SIZE) { *(int *)arg = 65536; return 0; }
        if (req == SG_GET_VERSION_NUM) { *(int *)arg = 30536; return 0; }
        errno = ENOTTY;
        return -1;
    }
    REAL(ioctl, int, int, unsigned long, ...);
    return real_ioctl(fd, req, arg);
}

int close(int fd) {
    if (fd >= 0 && fd == shim_fd) shim_fd = -1;
    REAL(close, int, int);
    return real_close(fd);
}

static int virtual_sleep_ms(uint64_t ms) {
    if (shim_fd < 0 || !pthread_equal(owner, pthread_self())) return -1;
    uint8_t op = 'S', ack; uint32_t v = (uint32_t)ms;
    pthread_mutex_lock(&lock);
    int bad = shim_fd < 0 || wr(&op, 1) || wr(&v, 4) || rd(&ack, 1);
    pthread_mutex_unlock(&lock);
    return bad ? -1 : 0;
}
int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv) {
    if (n == 0 && !r && !w && !e && tv &&
        virtual_sleep_ms((uint64_t)tv->tv_sec * 1000 + (uint64_t)tv->tv_usec / 1000) == 0) {
        tv->tv_sec = 0; tv->tv_usec = 0;
        return 0;
    }
    REAL(select, int, int, fd_set *, fd_set *, fd_set *, struct timeval *);
    return real_select(n, r, w, e, tv);
}
unsigned int sleep(unsigned int s) {
    if (virtual_sleep_ms((uint64_t)s * 1000) == 0) return 0;
    REAL(sleep, unsigned int, unsigned int);
    return real_sleep(s);
}
int usleep(useconds_t us) {
    if (virtual_sleep_ms(us / 1000) == 0) return 0;
    REAL(usleep, int, useconds_t);
    return real_usleep(us);
}
int nanosleep(const struct timespec *req, struct timespec *rem) {
    if (req && virtual_sleep_ms((uint64_t)req->tv_sec * 1000 + (uint64_t)req->tv_nsec / 1000000) == 0) {
        if (rem) { rem->tv_sec = 0; rem->tv_nsec = 0; }
        return 0;
    }
    REAL(nanosleep, int, const struct timespec *, struct timespec *);
    return real_nanosleep(req, rem);
}
int clock_nanosleep(clockid_t c, int flags, const struct timespec *req, struct timespec *rem) {
    if (!(flags & TIMER_ABSTIME) && req &&
        virtual_sleep_ms((uint64_t)req->tv_sec * 1000 + (uint64_t)req->tv_nsec / 1000000) == 0) {
        if (rem) { rem->tv_sec = 0; rem->tv_nsec = 0; }
        return 0;
    }
    REAL(clock_nanosleep, int, clockid_t, int, const struct timespec *, struct timespec *);
    return real_clock_nanosleep(c, flags, req, rem);
}
