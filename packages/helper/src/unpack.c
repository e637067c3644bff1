/* unpack: applies a pax tar from stdin under ROOT, never through a symlink. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "helper.h"

/* Directories whose metadata is set at the end: those in the stream (mode, owner, mtime
   from it) and those whose content changed (their mtime from before the change). */
struct dirrec {
  char *path;
  bool in_stream, has_orig, created;
  unsigned mode;
  uint64_t uid, gid;
  struct timespec mtime;   /* from the stream */
  struct timespec orig[2]; /* atime and mtime before unpack first changed the content */
};

struct unpacker {
  int rootfd;
  bool xattrs;
  struct meta root;
  struct dirrec *recs;
  size_t n_recs, cap_recs;
  size_t *slots; /* index + 1 into recs, open addressing by path */
  size_t n_slots;
  char *cache_path; /* the last parent directory resolved, its fd and group */
  int cache_fd;
  gid_t cache_gid;
  uid_t euid;
  gid_t egid;
  uint64_t entries, bytes;
};

static size_t hash_str(const char *s) {
  size_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static struct dirrec *dir_get(struct unpacker *u, const char *path) {
  if ((u->n_recs + 1) * 2 > u->n_slots) {
    u->n_slots = u->n_slots ? u->n_slots * 2 : 1024;
    free(u->slots);
    u->slots = calloc(u->n_slots, sizeof *u->slots);
    if (!u->slots) die(EXIT_IO, "out of memory");
    for (size_t r = 0; r < u->n_recs; r++) {
      size_t i = hash_str(u->recs[r].path) & (u->n_slots - 1);
      while (u->slots[i]) i = (i + 1) & (u->n_slots - 1);
      u->slots[i] = r + 1;
    }
  }
  size_t i = hash_str(path) & (u->n_slots - 1);
  for (; u->slots[i]; i = (i + 1) & (u->n_slots - 1))
    if (strcmp(u->recs[u->slots[i] - 1].path, path) == 0) return &u->recs[u->slots[i] - 1];
  if (u->n_recs == u->cap_recs) {
    u->cap_recs = u->cap_recs ? u->cap_recs * 2 : 256;
    u->recs = xrealloc(u->recs, u->cap_recs * sizeof *u->recs);
  }
  struct dirrec *rec = &u->recs[u->n_recs];
  memset(rec, 0, sizeof *rec);
  rec->path = xstrdup(path);
  u->slots[i] = ++u->n_recs;
  return rec;
}

static char *parent_path(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
}

/* Remembers a directory's times before unpack first changes its content. */
static void touch(struct unpacker *u, const char *dirpath, int dirfd) {
  struct dirrec *rec = dir_get(u, dirpath);
  if (rec->has_orig || rec->created) return;
  struct meta m;
  if (meta_at(dirfd, "", &m) != 0) die_errno(EXIT_IO, "stat", dirpath);
  rec->orig[0] = (struct timespec){m.atime_s, m.atime_ns};
  rec->orig[1] = (struct timespec){m.mtime_s, m.mtime_ns};
  rec->has_orig = true;
}

static void creating_parent(const char *dirpath, int parentfd, void *ctx) {
  struct unpacker *u = ctx;
  char *parent = parent_path(dirpath);
  touch(u, parent, parentfd);
  free(parent);
  dir_get(u, dirpath)->created = true;
}

static void drop_cache(struct unpacker *u) {
  if (u->cache_path) close(u->cache_fd);
  free(u->cache_path);
  u->cache_path = NULL;
}

/* The parent directory of `path` (cached: consecutive entries mostly share it). */
static int get_parent(struct unpacker *u, const char *path, bool create, const char **base) {
  const char *slash = strrchr(path, '/');
  const char *ppath = slash ? path : ".";
  size_t plen = slash ? (size_t)(slash - path) : 1;
  if (u->cache_path && strlen(u->cache_path) == plen && memcmp(u->cache_path, ppath, plen) == 0) {
    *base = slash ? slash + 1 : path;
    return u->cache_fd;
  }
  int fd = open_parent(u->rootfd, path, create, base, creating_parent, u);
  if (fd < 0) return -1;
  struct meta m;
  if (meta_at(fd, "", &m) != 0) die_errno(EXIT_IO, "stat parent of", path);
  drop_cache(u);
  u->cache_path = xstrndup(ppath, plen);
  u->cache_fd = fd;
  u->cache_gid = m.gid;
  return fd;
}

static void remove_tree(struct unpacker *u, int pfd, const char *name, const char *path);

/* Removes what is at (pfd, base), a directory with its content; nothing when missing. */
static void remove_at(struct unpacker *u, int pfd, const char *base, const char *path) {
  struct meta m;
  if (meta_at(pfd, base, &m) != 0) {
    if (errno == ENOENT) return;
    die_errno(EXIT_IO, "stat", path);
  }
  if (!S_ISDIR(m.mode)) {
    if (unlinkat(pfd, base, 0) != 0 && errno != ENOENT) die_errno(EXIT_IO, "remove", path);
    return;
  }
  size_t n = strlen(path);
  if (u->cache_path && strncmp(u->cache_path, path, n) == 0 &&
      (u->cache_path[n] == 0 || u->cache_path[n] == '/'))
    drop_cache(u);
  remove_tree(u, pfd, base, path);
}

static void remove_tree(struct unpacker *u, int pfd, const char *name, const char *path) {
  int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return;
    die_errno(EXIT_IO, "open", path);
  }
  struct meta m;
  if (meta_at(fd, "", &m) != 0) die_errno(EXIT_IO, "stat", path);
  if (!same_mount(&m, &u->root))
    die(EXIT_IO, "remove %s: another file system is mounted there", printable(path));
  struct sbuf names = {0}, child = {0};
  enum { DENTS = 32 * 1024 };
  char *dents = xmalloc(DENTS); /* on the heap: deep trees recurse */
  ssize_t got;
  while ((got = getdents64(fd, dents, DENTS)) > 0) {
    for (ssize_t off = 0; off < got;) {
      struct dirent64 *d = (struct dirent64 *)(dents + off);
      off += d->d_reclen;
      if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
        sb_add(&names, d->d_name, strlen(d->d_name) + 1);
    }
  }
  if (got < 0) die_errno(EXIT_IO, "read directory", path);
  free(dents);
  for (size_t i = 0; i < names.len; i += strlen(names.p + i) + 1) {
    sb_clear(&child);
    sb_addstr(&child, path);
    sb_addc(&child, '/');
    sb_addstr(&child, names.p + i);
    remove_at(u, fd, names.p + i, child.p);
  }
  free(names.p);
  free(child.p);
  close(fd);
  if (unlinkat(pfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) die_errno(EXIT_IO, "remove", path);
}

/* The file's data: plain, or a GNU sparse 1.0 map and its regions (holes stay holes). */
static void write_data(struct unpacker *u, int fd, const struct entry *e) {
  const char *p;
  if (!e->sparse) {
    for (uint64_t left = e->size; left > 0;) {
      size_t n = in_chunk(left, &p);
      if (!write_all(fd, p, n)) die_errno(EXIT_IO, "write", e->name);
      left -= n;
      u->bytes += n;
    }
    return;
  }
  uint64_t used = 0, at = in_offset();
  uint64_t count = in_map_number(&used);
  if (count > e->size / 4 + 1) die_malformed(at, "bad GNU sparse map");
  uint64_t(*r)[2] = xmalloc((size_t)(count ? count : 1) * sizeof *r);
  uint64_t end = 0, data = 0;
  for (uint64_t i = 0; i < count; i++) {
    r[i][0] = in_map_number(&used);
    r[i][1] = in_map_number(&used);
    if (used > e->size || r[i][0] < end || r[i][1] > e->realsize ||
        r[i][0] > e->realsize - r[i][1])
      die_malformed(at, "bad GNU sparse map");
    end = r[i][0] + r[i][1];
    data += r[i][1];
  }
  uint64_t pad = (512 - used % 512) % 512;
  if (used + pad + data != e->size) die_malformed(at, "GNU sparse map does not match the size");
  in_skip(pad);
  for (uint64_t i = 0; i < count; i++) {
    uint64_t off = r[i][0];
    for (uint64_t left = r[i][1]; left > 0;) {
      size_t n = in_chunk(left, &p);
      if (!pwrite_all(fd, p, n, (off_t)off)) die_errno(EXIT_IO, "write", e->name);
      off += n;
      left -= n;
      u->bytes += n;
    }
  }
  free(r);
  if (ftruncate(fd, (off_t)e->realsize) != 0) die_errno(EXIT_IO, "truncate", e->name);
}

static int make_node(const struct entry *e, int pfd, const char *base) {
  switch (e->type) {
  case '0':
    /* created with its permission bits already (umask is 0): the fchmod after the fchown
       is then needed only for setuid/setgid/sticky, which a chown clears */
    return openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, e->mode & 0777);
  case '2': return symlinkat(e->link, pfd, base);
  case '3': return mknodat(pfd, base, S_IFCHR | 0600, makedev(e->devmajor, e->devminor));
  case '4': return mknodat(pfd, base, S_IFBLK | 0600, makedev(e->devmajor, e->devminor));
  case '6': return mkfifoat(pfd, base, 0600);
  default: return -1;
  }
}

/* Creates the entry's node, replacing whatever is at its path. */
static int create_node(struct unpacker *u, const struct entry *e, int pfd, const char *base) {
  int r = make_node(e, pfd, base);
  if (r < 0 && errno == EEXIST) {
    remove_at(u, pfd, base, e->name);
    r = make_node(e, pfd, base);
  }
  if (r < 0) die_errno(EXIT_IO, "create", e->name);
  return r;
}

static void apply_link(struct unpacker *u, const struct entry *e, int pfd, const char *base) {
  if (strcmp(e->link, e->name) == 0) return; /* a link to itself: it is there already */
  const char *tbase;
  int tfd = open_parent(u->rootfd, e->link, false, &tbase, NULL, NULL);
  if (tfd < 0) {
    if (errno == ELOOP)
      die(EXIT_REFUSED, "entry at byte %" PRIu64 ": hard link target %s: a parent is a symlink",
          e->offset, printable(e->link));
    die_errno(EXIT_IO, "link to", e->link);
  }
  int r = linkat(tfd, tbase, pfd, base, 0);
  if (r != 0 && errno == EEXIST) {
    remove_at(u, pfd, base, e->name);
    r = linkat(tfd, tbase, pfd, base, 0);
  }
  if (r != 0) die_errno(EXIT_IO, "link", e->name);
  close(tfd);
}

static void apply_dir(struct unpacker *u, const struct entry *e, int pfd, const char *base) {
  if (mkdirat(pfd, base, 0700) != 0) {
    struct meta m;
    if (errno != EEXIST) die_errno(EXIT_IO, "mkdir", e->name);
    if (meta_at(pfd, base, &m) != 0) die_errno(EXIT_IO, "stat", e->name);
    if (!S_ISDIR(m.mode)) {
      remove_at(u, pfd, base, e->name);
      if (mkdirat(pfd, base, 0700) != 0) die_errno(EXIT_IO, "mkdir", e->name);
    }
  }
  if (u->xattrs && e->n_xattrs) {
    int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) die_errno(EXIT_IO, "open", e->name);
    xattrs_apply(e->xattrs, e->n_xattrs, fd, -1, "", e->name);
    close(fd);
  }
}

static void record_dir(struct unpacker *u, const struct entry *e) {
  struct dirrec *rec = dir_get(u, e->name);
  rec->in_stream = true;
  rec->mode = e->mode;
  rec->uid = e->uid;
  rec->gid = e->gid;
  rec->mtime = (struct timespec){e->mtime_s, e->mtime_ns};
}

static void apply_regular(struct unpacker *u, const struct entry *e, int pfd, const char *base) {
  int fd = create_node(u, e, pfd, base);
  write_data(u, fd, e);
  struct timespec ts[2] = {{e->mtime_s, e->mtime_ns}, {e->mtime_s, e->mtime_ns}};
  /* A new file is ours, its group ours or its directory's (setgid, or a grpid mount): when
     all three are the entry's, the chown would change nothing. Otherwise chown, and chmod
     after it: chown clears setuid/setgid. */
  bool owned = e->uid == u->euid && e->gid == u->egid && u->cache_gid == u->egid;
  if (!owned && fchown(fd, (uid_t)e->uid, (gid_t)e->gid) != 0) die_errno(EXIT_IO, "chown", e->name);
  if ((e->mode & 07000) && fchmod(fd, e->mode) != 0) die_errno(EXIT_IO, "chmod", e->name);
  if (u->xattrs) xattrs_apply(e->xattrs, e->n_xattrs, fd, -1, "", e->name);
  if (futimens(fd, ts) != 0) die_errno(EXIT_IO, "set times of", e->name);
  if (close(fd) != 0) die_errno(EXIT_IO, "close", e->name);
}

static void apply_special(struct unpacker *u, const struct entry *e, int pfd, const char *base) {
  create_node(u, e, pfd, base);
  struct timespec ts[2] = {{e->mtime_s, e->mtime_ns}, {e->mtime_s, e->mtime_ns}};
  if (fchownat(pfd, base, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) != 0)
    die_errno(EXIT_IO, "chown", e->name);
  if (e->type != '2' && fchmodat(pfd, base, e->mode, 0) != 0) die_errno(EXIT_IO, "chmod", e->name);
  if (u->xattrs) xattrs_apply(e->xattrs, e->n_xattrs, -1, pfd, base, e->name);
  if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) != 0) die_errno(EXIT_IO, "set times of", e->name);
}

static void apply_root(struct unpacker *u, const struct entry *e) {
  if (e->deleted || e->type != '5')
    die(EXIT_REFUSED, "entry at byte %" PRIu64 ": ROOT itself can only be a directory", e->offset);
  record_dir(u, e);
  if (u->xattrs && e->n_xattrs) xattrs_apply(e->xattrs, e->n_xattrs, u->rootfd, -1, "", ".");
}

static void apply(struct unpacker *u, const struct entry *e) {
  u->entries++;
  if (strcmp(e->name, ".") == 0) {
    apply_root(u, e);
    return;
  }
  const char *base;
  int pfd = get_parent(u, e->name, !e->deleted, &base);
  if (pfd < 0) {
    if (errno == ELOOP)
      die(EXIT_REFUSED, "entry at byte %" PRIu64 ": %s: a parent is a symlink", e->offset,
          printable(e->name));
    if (e->deleted && (errno == ENOENT || errno == ENOTDIR)) return; /* nothing to delete */
    die_errno(EXIT_IO, "open parent of", e->name);
  }
  char *parent = parent_path(e->name);
  if (e->deleted) {
    struct meta m;
    if (meta_at(pfd, base, &m) == 0) {
      touch(u, parent, pfd);
      remove_at(u, pfd, base, e->name);
    }
  } else {
    touch(u, parent, pfd);
    switch (e->type) {
    case '0': apply_regular(u, e, pfd, base); break;
    case '1': apply_link(u, e, pfd, base); break;
    case '5':
      apply_dir(u, e, pfd, base);
      record_dir(u, e);
      break;
    default: apply_special(u, e, pfd, base); break;
    }
  }
  free(parent);
}

static size_t depth(const char *path) {
  if (strcmp(path, ".") == 0) return 0;
  size_t d = 1;
  for (; *path; path++) d += *path == '/';
  return d;
}

static int deepest_first(const void *a, const void *b) {
  size_t da = depth(((const struct dirrec *)a)->path), db = depth(((const struct dirrec *)b)->path);
  return da < db ? 1 : da > db ? -1 : 0;
}

/* Directory metadata, deepest first, after everything else (setting a child's times does
   not touch its parent's). */
static void finish_dirs(struct unpacker *u) {
  drop_cache(u);
  qsort(u->recs, u->n_recs, sizeof *u->recs, deepest_first);
  for (size_t i = 0; i < u->n_recs; i++) {
    struct dirrec *r = &u->recs[i];
    if (!r->in_stream && !r->has_orig) continue;
    const char *base;
    int pfd = open_parent(u->rootfd, r->path, false, &base, NULL, NULL);
    struct meta m;
    if (pfd < 0) continue; /* removed again later in the stream */
    if (meta_at(pfd, base, &m) != 0 || !S_ISDIR(m.mode)) {
      close(pfd);
      continue;
    }
    const char *name = base[0] ? base : ".";
    if (r->in_stream) {
      struct timespec ts[2] = {r->mtime, r->mtime};
      if (fchownat(pfd, name, (uid_t)r->uid, (gid_t)r->gid, AT_SYMLINK_NOFOLLOW) != 0)
        die_errno(EXIT_IO, "chown", r->path);
      if (fchmodat(pfd, name, r->mode, 0) != 0) die_errno(EXIT_IO, "chmod", r->path);
      if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) != 0)
        die_errno(EXIT_IO, "set times of", r->path);
    } else if (utimensat(pfd, name, r->orig, AT_SYMLINK_NOFOLLOW) != 0) {
      die_errno(EXIT_IO, "set times of", r->path);
    }
    close(pfd);
  }
}

int cmd_unpack(const char *root, bool xattrs) {
  struct unpacker u = {.xattrs = xattrs, .euid = geteuid(), .egid = getegid()};
  umask(0);
  u.rootfd = open_root(root);
  if (meta_at(u.rootfd, "", &u.root) != 0) die_errno(EXIT_IO, "stat", root);
  in_init();
  struct entry e;
  while (tar_next(&e)) {
    apply(&u, &e);
    if (e.type == '0' && !e.deleted) {
      /* write_data consumed the data */
    } else {
      in_skip(e.size);
    }
    in_skip((512 - e.size % 512) % 512);
    entry_free(&e);
  }
  finish_dirs(&u);
  char line[64];
  int n = snprintf(line, sizeof line, "ok %" PRIu64 " %" PRIu64 "\n", u.entries, u.bytes);
  if (!write_all(1, line, (size_t)n)) die_errno(EXIT_IO, "write", "stdout");
  return 0;
}
