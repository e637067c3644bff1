/* transship-helper: shared declarations. See README.md for what each command does. */
#ifndef TRANSSHIP_HELPER_H
#define TRANSSHIP_HELPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

enum { EXIT_IO = 1, EXIT_REFUSED = 2 };

/* Large buffers: stdout is written and files are read 1 MiB at a time. */
#define BIG_BUFFER (1u << 20)

/* ---- util.c: errors, memory, buffers ---- */

extern const char *g_command; /* "scan", "pack" or "unpack", for messages */

_Noreturn void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One line naming the operation, the path and the errno text; exits with `code`. */
_Noreturn void die_errno(int code, const char *op, const char *path);
void warn_path(const char *path, const char *what);
/* A path as it may appear in a one-line message: control bytes and backslash escaped. */
const char *printable(const char *path);

void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* A growable byte string. */
struct sbuf {
  char *p;
  size_t len, cap;
};
void sb_add(struct sbuf *b, const void *data, size_t n);
void sb_addstr(struct sbuf *b, const char *s);
void sb_addc(struct sbuf *b, char c);
void sb_clear(struct sbuf *b);

/* Buffered stdout. `flushes` counts how often the buffer was written out, so that a caller
   can tell whether bytes it put there earlier are still in the buffer (and patchable). */
struct outbuf {
  char *buf;
  size_t len, cap;
  uint64_t flushes;
};
extern struct outbuf g_out;
void out_init(void);
void out_flush(void);
void out_write(const void *p, size_t n);
void out_zeros(size_t n);
/* Room for at least one byte at the end of the buffer; *avail tells how much. */
char *out_space(size_t *avail);
void out_commit(size_t n);

/* Writes all of it, retrying on EINTR and short writes; returns false with errno set. */
bool write_all(int fd, const void *p, size_t n);
bool pwrite_all(int fd, const void *p, size_t n, off_t off);
/* Best effort: a 1 MiB pipe when fd is a pipe (64 KiB by default). */
void grow_pipe(int fd);

/* ---- meta.c: stat without following symlinks ---- */

struct meta {
  mode_t mode; /* st_mode, type bits included */
  uid_t uid;
  gid_t gid;
  uint64_t size, blocks, ino, nlink, dev, mnt_id;
  unsigned rdev_major, rdev_minor;
  int64_t mtime_s, ctime_s, atime_s;
  uint32_t mtime_ns, ctime_ns, atime_ns;
};
/* lstat of name relative to dirfd ("" = dirfd itself); 0 or -1 with errno. */
int meta_at(int dirfd, const char *name, struct meta *m);
/* True when a and b are on the same mounted file system (mount id, else device). */
bool same_mount(const struct meta *a, const struct meta *b);
/* The racy rule: ctime not at least 2 s older than `now` (read before the stat). */
bool is_racy(const struct meta *m, const struct timespec *now);
struct timespec now_realtime(void);
/* "<sec>.<9 digits>" with sec = floor (scan's form); returns length. */
int fmt_time_floor(char *dst, int64_t s, uint32_t ns);
/* The same instant as a decimal number (pax's form: -1.500000000 is 1.5 s before 1970). */
int fmt_time_decimal(char *dst, int64_t s, uint32_t ns);
char tar_type(mode_t mode); /* '0' '2' '3' '4' '5' '6', 0 for sockets and unknown */

/* ---- paths.c: relative names, excludes, resolving without symlinks ---- */

/* Normalizes a relative name ("./a//b/" -> "a/b", "./" -> "."). Returns NULL and sets
   *why when it is absolute, empty, has a ".." component or a NUL byte. */
char *normalize_name(const char *raw, size_t len, const char **why);
void exclude_add(const char *raw);
bool is_excluded(const char *path);
/* The parent directory's part of a normalized path and its last component. */
const char *base_name(const char *path);
/* Walks every parent component of `path` from rootfd with O_NOFOLLOW|O_DIRECTORY.
   Returns an fd (to close) and *base, or -1 with errno: ELOOP when a component is a
   symlink, ENOTDIR when it is another non-directory, ENOENT when missing. With `create`,
   missing components are made (0755); `creating` (may be NULL) is called before each
   is made, with its path and its parent's fd. For "." it returns a dup of rootfd and base "". */
int open_parent(int rootfd, const char *path, bool create, const char **base,
                void (*creating)(const char *dirpath, int parentfd, void *ctx), void *ctx);
/* A path for the l*xattr calls naming (dirfd, name) without following a symlink at the
   end: /proc/self/fd/N/name, or ROOT/path when /proc is missing. */
const char *xattr_path(int dirfd, const char *name, const char *relpath);
extern const char *g_root_arg;

/* ---- walk.c: the tree, depth-first, pre-order, entries sorted bytewise ---- */

struct walk_entry {
  const char *path; /* relative; "." for ROOT */
  int dirfd;        /* the parent directory, with `name` in it ("" for ROOT itself) */
  const char *name;
  int fd;           /* directories: an open fd of the directory itself; others: -1 */
  struct meta m;
  bool racy;
};
typedef void (*walk_fn)(struct walk_entry *e, void *ctx);
/* Calls fn for every entry under rootfd (ROOT included) that is not a socket, not
   excluded and on ROOT's file system; warns for the mounts it skips. */
void walk_tree(int rootfd, walk_fn fn, void *ctx);
/* Opens ROOT (never through a symlink); exits 2 when it is not a directory. */
int open_root(const char *root);

/* ---- tarwrite.c: ustar headers and pax records ---- */

struct ustar {
  const char *name; /* long names are split into prefix/name or cut: pax carries them */
  unsigned mode;    /* permission bits */
  uint64_t uid, gid, size;
  int64_t mtime;
  char type;
  const char *link; /* may be NULL */
  unsigned devmajor, devminor;
};
void tar_header(const struct ustar *h);
/* The sum of a 512-byte block's bytes, unsigned (the header checksum's arithmetic). */
unsigned block_sum(const void *block);
/* Appends one "<len> key=value\n" record; returns the offset of the value in `records`. */
size_t pax_add(struct sbuf *records, const char *key, const void *value, size_t vlen);
size_t pax_add_str(struct sbuf *records, const char *key, const char *value);
void pax_add_u64(struct sbuf *records, const char *key, uint64_t v);
void pax_add_time(struct sbuf *records, const char *key, int64_t s, uint32_t ns);
/* An 'x' header for the entry `path` holding `records`, placed in the buffer in one piece
   when it fits; returns the offset in g_out.buf where the records start, or SIZE_MAX when
   they were flushed already (a caller may patch them until g_out.flushes changes). */
size_t tar_pax(const char *path, int64_t mtime, const struct sbuf *records);
void tar_pad(uint64_t size); /* zeros up to the next 512 multiple */
void tar_end(void);          /* two zero blocks */
#define USTAR_MAX_ID 07777777ull
#define USTAR_MAX_SIZE 077777777777ull

/* ---- xattr.c ---- */

struct xattr {
  char *name;
  char *value;
  size_t len;
};
/* SCHILY.xattr.<name> records for every extended attribute the process can read (the
   system.* namespace, where ACLs live, left out). fd >= 0: through it; else (dirfd, name). */
void xattrs_collect(struct sbuf *records, int fd, int dirfd, const char *name,
                    const char *relpath);
void xattrs_apply(const struct xattr *xs, size_t n, int fd, int dirfd, const char *name,
                  const char *relpath);

/* ---- sha256.c: FIPS 180-4 SHA-256 ---- */

struct sha256 {
  uint32_t h[8];
  uint64_t len; /* bytes hashed so far */
  unsigned char buf[64];
  size_t n; /* bytes pending in buf */
};
void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t n);
void sha256_final(struct sha256 *c, unsigned char digest[32]);
void sha256_hex(const unsigned char digest[32], char hex[65]); /* lower case, NUL-ended */

/* ---- content.c: reading regular files ---- */

/* openat with O_NOFOLLOW|O_NONBLOCK (and O_NOATIME when allowed); -1 with errno. */
int open_regular(int dirfd, const char *name);
/* Up to want bytes at off (the current position when off < 0), 0 at the end; retries on
   EINTR, drops O_NONBLOCK on EAGAIN, exits 1 on an error. */
size_t read_some(int fd, void *buf, size_t want, int64_t off, const char *path);
/* True when fd is no longer the regular file `before` describes: type, inode, size or
   ctime changed. */
bool changed_since(int fd, const struct meta *before);
/* Data regions of a sparse file, GNU tar's way: SEEK_DATA/SEEK_HOLE, then a final
   (size, 0) region. False when the file has no hole (or the file system cannot tell). */
struct regions {
  uint64_t (*r)[2];
  size_t n, cap;
};
bool find_regions(int fd, uint64_t size, struct regions *rg);
void sha256_zeros(struct sha256 *c, uint64_t n);
/* The sha256 of the file's first `size` bytes, read 1 MiB at a time: with rg, only its
   regions are read and the holes between them hashed as zeros. What the file no longer has
   (it shrank) is hashed as zeros too, and then it returns false. */
bool hash_content(int fd, uint64_t size, const struct regions *rg, unsigned char digest[32],
                  const char *path);

/* ---- tarread.c: the tar reader ---- */

struct entry {
  uint64_t offset; /* of its first header block, for messages */
  char type;       /* '0' '1' '2' '3' '4' '5' '6' */
  bool deleted;    /* TRANSSHIP.deleted=1 */
  char *name;      /* normalized */
  char *link;      /* symlink target as it is; hard link target normalized */
  unsigned mode;
  uint64_t uid, gid, size; /* size: data bytes in the stream */
  int64_t mtime_s;
  uint32_t mtime_ns;
  unsigned devmajor, devminor;
  bool sparse; /* GNU sparse 1.0: the data starts with the map */
  uint64_t realsize;
  struct xattr *xattrs;
  size_t n_xattrs;
};
void in_init(void);
/* The next entry; false at the end-of-archive marker. Exits 2 on malformed input. */
bool tar_next(struct entry *e);
void entry_free(struct entry *e);
uint64_t in_offset(void);
/* Up to max bytes of data (at least one); exits 2 at a premature end. */
size_t in_chunk(uint64_t max, const char **p);
void in_skip(uint64_t n);
/* One decimal line of a sparse map; *used counts the bytes it took. */
uint64_t in_map_number(uint64_t *used);
_Noreturn void die_malformed(uint64_t offset, const char *why);

#endif
