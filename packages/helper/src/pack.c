/* pack: the tree (or the entries a list names) as a pax tar on stdout. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

/* (dev, ino) -> first path emitted, for the regular files with more than one link. */
struct link {
  uint64_t dev, ino;
  char *path;
};
struct links {
  struct link *slots;
  size_t cap, n;
};

static size_t link_hash(uint64_t dev, uint64_t ino, size_t cap) {
  uint64_t h = (ino * 0x9E3779B97F4A7C15ull) ^ (dev * 0xC2B2AE3D27D4EB4Full);
  return (size_t)(h >> 17) & (cap - 1);
}

static const char *link_find(struct links *t, uint64_t dev, uint64_t ino) {
  if (!t->cap) return NULL;
  for (size_t i = link_hash(dev, ino, t->cap);; i = (i + 1) & (t->cap - 1)) {
    struct link *l = &t->slots[i];
    if (!l->path) return NULL;
    if (l->dev == dev && l->ino == ino) return l->path;
  }
}

static void link_put(struct links *t, uint64_t dev, uint64_t ino, const char *path) {
  if ((t->n + 1) * 2 > t->cap) {
    struct links bigger = {.cap = t->cap ? t->cap * 2 : 1024};
    bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
    if (!bigger.slots) die(EXIT_IO, "out of memory");
    for (size_t i = 0; i < t->cap; i++)
      if (t->slots[i].path) link_put(&bigger, t->slots[i].dev, t->slots[i].ino, t->slots[i].path);
    free(t->slots);
    *t = bigger;
  }
  for (size_t i = link_hash(dev, ino, t->cap);; i = (i + 1) & (t->cap - 1)) {
    struct link *l = &t->slots[i];
    if (!l->path) {
      *l = (struct link){dev, ino, xstrdup(path)};
      t->n++;
      return;
    }
  }
}

struct packer {
  bool xattrs, checksum;
  struct links links;
  struct sbuf pax;
  char linkbuf[4098];
};

/* The map that opens a sparse 1.0 entry's data: count, then offset and size per region. */
static void sparse_map(const struct regions *rg, struct sbuf *map) {
  char num[48];
  sb_clear(map);
  sb_add(map, num, (size_t)sprintf(num, "%zu\n", rg->n));
  for (size_t i = 0; i < rg->n; i++)
    sb_add(map, num, (size_t)sprintf(num, "%" PRIu64 "\n%" PRIu64 "\n", rg->r[i][0], rg->r[i][1]));
  while (map->len % 512) sb_addc(map, 0);
}

/* GNU tar's name for the header of a sparse 1.0 entry: DIR/GNUSparseFile.0/BASE. */
static char *gnu_sparse_name(const char *path) {
  const char *slash = strrchr(path, '/');
  struct sbuf b = {0};
  if (slash)
    sb_add(&b, path, (size_t)(slash - path));
  else
    sb_addc(&b, '.');
  sb_addstr(&b, "/GNUSparseFile.0/");
  sb_addstr(&b, base_name(path));
  return b.p;
}

/* Copies len bytes at off (or the current position when off < 0) into the stream, and into
   h unless NULL; zeros stand in for what the file no longer has. False when it ended early. */
static bool copy_data(int fd, int64_t off, uint64_t len, const char *path, struct sha256 *h) {
  while (len > 0) {
    size_t avail;
    char *dst = out_space(&avail);
    size_t r = read_some(fd, dst, len < avail ? (size_t)len : avail, off, path);
    if (r == 0) {
      out_zeros(len);
      if (h) sha256_zeros(h, len);
      return false;
    }
    if (h) sha256_update(h, dst, r);
    out_commit(r);
    len -= r;
    if (off >= 0) off += (int64_t)r;
  }
  return true;
}

/* One entry: 'x' header, ustar header, content. Returns false when the entry vanished
   before its content could be opened (nothing was written then). */
static bool pack_entry(struct packer *p, const struct walk_entry *e) {
  const struct meta *m = &e->m;
  char type = tar_type(m->mode);
  const char *linkpath = NULL;
  bool racy = e->racy, sparse = false;
  int fd = -1;
  struct regions rg = {0};
  struct sbuf map = {0};
  unsigned char digest[32];

  if (type == '0' && m->nlink > 1) {
    const char *first = link_find(&p->links, m->dev, m->ino);
    if (first && strcmp(first, e->path) != 0) {
      type = '1';
      linkpath = first;
    }
  }
  if (type == '0') {
    fd = open_regular(e->dirfd, e->name);
    if (fd < 0) {
      if (errno == ENOENT || errno == ELOOP || errno == ENXIO) return false;
      die_errno(EXIT_IO, "open", e->path);
    }
    if (m->blocks * 512 < m->size) sparse = find_regions(fd, m->size, &rg);
    if (m->nlink > 1) link_put(&p->links, m->dev, m->ino, e->path);
    /* --checksum: the header precedes the data, so a first pass hashes the content */
    if (p->checksum &&
        (!hash_content(fd, m->size, sparse ? &rg : NULL, digest, e->path) ||
         changed_since(fd, m)))
      racy = true;
  } else if (type == '2') {
    ssize_t n = readlinkat(e->dirfd, e->name, p->linkbuf, sizeof p->linkbuf - 1);
    if (n < 0) {
      if (errno == ENOENT || errno == EINVAL) return false;
      die_errno(EXIT_IO, "readlink", e->path);
    }
    p->linkbuf[n] = 0;
    if ((uint64_t)n != m->size) racy = true; /* replaced since the stat */
    linkpath = p->linkbuf;
  }

  uint64_t data_size = type == '0' ? m->size : 0;
  char *header_name = sparse ? gnu_sparse_name(e->path) : NULL;
  if (sparse) {
    sparse_map(&rg, &map);
    data_size = map.len;
    for (size_t i = 0; i < rg.n; i++) data_size += rg.r[i][1];
  }

  struct sbuf *x = &p->pax;
  sb_clear(x);
  pax_add_str(x, "path", header_name ? header_name : e->path);
  if (sparse) {
    pax_add_str(x, "GNU.sparse.major", "1");
    pax_add_str(x, "GNU.sparse.minor", "0");
    pax_add_str(x, "GNU.sparse.name", e->path);
    pax_add_u64(x, "GNU.sparse.realsize", m->size);
  }
  if (linkpath) pax_add_str(x, "linkpath", linkpath);
  pax_add_time(x, "mtime", m->mtime_s, m->mtime_ns);
  if (m->uid > USTAR_MAX_ID) pax_add_u64(x, "uid", m->uid);
  if (m->gid > USTAR_MAX_ID) pax_add_u64(x, "gid", m->gid);
  if (data_size > USTAR_MAX_SIZE) pax_add_u64(x, "size", data_size);
  pax_add_time(x, "TRANSSHIP.ctime", m->ctime_s, m->ctime_ns);
  pax_add_u64(x, "TRANSSHIP.ino", m->ino);
  pax_add_u64(x, "TRANSSHIP.nlink", m->nlink);
  size_t racy_at = pax_add_str(x, "TRANSSHIP.racy", racy ? "1" : "0");
  if (p->checksum && fd >= 0) {
    char hex[65];
    sha256_hex(digest, hex);
    pax_add(x, "TRANSSHIP.sha256", hex, 64);
  }
  if (p->xattrs) xattrs_collect(x, type == '5' ? e->fd : fd, e->dirfd, e->name, e->path);

  /* Small files land in the buffer with their header, so a change seen after reading
     them can still be marked in it (see README: racy). */
  if (type == '0' && g_out.cap - g_out.len < 1024 + x->len + data_size + 512 &&
      1024 + x->len + data_size + 512 <= g_out.cap)
    out_flush();
  size_t records_at = tar_pax(header_name ? header_name : e->path, m->mtime_s, x);
  uint64_t flushes = g_out.flushes;
  struct ustar h = {
      .name = header_name ? header_name : e->path,
      .mode = m->mode & 07777,
      .uid = m->uid,
      .gid = m->gid,
      .size = data_size,
      .mtime = m->mtime_s,
      .type = type,
      .link = linkpath,
      .devmajor = m->rdev_major,
      .devminor = m->rdev_minor,
  };
  tar_header(&h);

  if (fd >= 0) {
    /* --checksum: what is sent is hashed again, and must be what the header's hash says */
    struct sha256 sent, *hs = p->checksum ? &sent : NULL;
    if (hs) sha256_init(hs);
    bool complete = true;
    if (sparse) {
      out_write(map.p, map.len);
      uint64_t pos = 0;
      for (size_t i = 0; i < rg.n; i++) {
        if (hs) sha256_zeros(hs, rg.r[i][0] - pos);
        complete &= copy_data(fd, (int64_t)rg.r[i][0], rg.r[i][1], e->path, hs);
        pos = rg.r[i][0] + rg.r[i][1];
      }
    } else {
      /* at offset 0: find_regions may have moved the file position */
      complete = copy_data(fd, 0, m->size, e->path, hs);
    }
    tar_pad(data_size);
    if (hs) {
      unsigned char again[32];
      sha256_final(hs, again);
      if (memcmp(again, digest, sizeof digest) != 0) complete = false;
    }
    if ((!complete || changed_since(fd, m)) && !racy) {
      if (records_at != SIZE_MAX && g_out.flushes == flushes)
        g_out.buf[records_at + racy_at] = '1';
      else
        warn_path(e->path, "changed while read");
    }
    close(fd);
  }
  free(header_name);
  free(map.p);
  free(rg.r);
  return true;
}

static void pack_deleted(struct packer *p, const char *path) {
  sb_clear(&p->pax);
  pax_add_str(&p->pax, "path", path);
  pax_add_str(&p->pax, "TRANSSHIP.deleted", "1");
  tar_pax(path, 0, &p->pax);
  struct ustar h = {.name = path, .type = '0'};
  tar_header(&h);
}

static void pack_walked(struct walk_entry *e, void *ctx) {
  if (!pack_entry(ctx, e)) warn_path(e->path, "vanished, skipped");
}

/* --paths: NUL-terminated records read as they come, up to an empty one. */
struct list_reader {
  char *buf;
  size_t pos, len, cap;
};

static char *next_record(struct list_reader *r, size_t *len) {
  for (;;) {
    char *nul = memchr(r->buf + r->pos, 0, r->len - r->pos);
    if (nul) {
      char *rec = r->buf + r->pos;
      *len = (size_t)(nul - rec);
      r->pos = (size_t)(nul - r->buf) + 1;
      return rec;
    }
    memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
    if (r->len == r->cap) {
      r->cap *= 2;
      r->buf = xrealloc(r->buf, r->cap);
    }
    out_flush(); /* whoever writes the list may wait for what it asked for so far */
    ssize_t n = read(0, r->buf + r->len, r->cap - r->len);
    if (n < 0) {
      if (errno == EINTR) continue;
      die_errno(EXIT_IO, "read", "stdin");
    }
    if (n == 0) die(EXIT_REFUSED, "stdin ended before the empty record that ends the list");
    r->len += (size_t)n;
  }
}

static bool gone(int err) { return err == ENOENT || err == ENOTDIR || err == ELOOP; }

/* E<path>: that entry alone (a directory without its content), or its deletion. */
static void pack_listed(struct packer *p, int rootfd, const struct meta *root, const char *path) {
  const char *base;
  int pfd = open_parent(rootfd, path, false, &base, NULL, NULL);
  if (pfd < 0) {
    if (!gone(errno)) die_errno(EXIT_IO, "open parent of", path);
    pack_deleted(p, path);
    return;
  }
  struct walk_entry e = {.path = path, .dirfd = pfd, .name = base, .fd = -1};
  struct timespec now = now_realtime();
  bool present = meta_at(pfd, base, &e.m) == 0;
  if (!present && errno != ENOENT) die_errno(EXIT_IO, "stat", path);
  if (present && !same_mount(&e.m, root)) {
    warn_path(path, "another file system, skipped");
    close(pfd);
    return;
  }
  if (present && S_ISDIR(e.m.mode)) {
    e.fd = openat(pfd, base[0] ? base : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (e.fd < 0 && !gone(errno)) die_errno(EXIT_IO, "open", path);
    now = now_realtime();
    present = e.fd >= 0 && meta_at(e.fd, "", &e.m) == 0;
  }
  e.racy = present && is_racy(&e.m, &now);
  /* a socket is not carried: at the destination the path holds nothing */
  if (!present || !tar_type(e.m.mode) || !pack_entry(p, &e)) pack_deleted(p, path);
  if (e.fd >= 0) close(e.fd);
  close(pfd);
}

static void pack_list(struct packer *p, int rootfd) {
  struct list_reader r = {.cap = 64 * 1024};
  r.buf = xmalloc(r.cap);
  struct meta root;
  if (meta_at(rootfd, "", &root) != 0) die_errno(EXIT_IO, "stat", ".");
  for (;;) {
    size_t len;
    char *rec = next_record(&r, &len);
    if (len == 0) break;
    const char *why = "expected E<path> or D<path>";
    char *path = (rec[0] == 'E' || rec[0] == 'D') ? normalize_name(rec + 1, len - 1, &why) : NULL;
    if (path && rec[0] == 'D' && strcmp(path, ".") == 0) {
      why = "ROOT cannot be deleted";
      free(path);
      path = NULL;
    }
    if (!path) die(EXIT_REFUSED, "list record %s: %s", printable(xstrndup(rec, len)), why);
    if (!is_excluded(path)) {
      if (rec[0] == 'E')
        pack_listed(p, rootfd, &root, path);
      else
        pack_deleted(p, path);
    }
    free(path);
  }
  free(r.buf);
}

int cmd_pack(const char *root, bool paths, bool xattrs, bool checksum) {
  int rootfd = open_root(root);
  struct packer p = {.xattrs = xattrs, .checksum = checksum};
  out_init();
  if (paths)
    pack_list(&p, rootfd);
  else
    walk_tree(rootfd, pack_walked, &p);
  tar_end();
  out_flush();
  close(rootfd);
  return 0;
}
