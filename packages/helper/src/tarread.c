/* The tar reader: ustar headers, pax 'x' records (and 'g', ignored), GNU long names, GNU
   sparse 1.0. It reads only as far as it needs: after the end marker it stops, whether or
   not stdin is at its end. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"

static struct {
  char *buf;
  size_t pos, len, cap;
  uint64_t off; /* stream offset of buf[pos] */
} in;

enum { MAX_PAX = 64 << 20 };

void in_init(void) {
  in.cap = BIG_BUFFER;
  in.buf = xmalloc(in.cap);
  grow_pipe(0);
}

uint64_t in_offset(void) { return in.off; }

_Noreturn void die_malformed(uint64_t offset, const char *why) {
  die(EXIT_REFUSED, "malformed archive at byte %" PRIu64 ": %s", offset, why);
}

static _Noreturn void die_truncated(void) {
  /* the offset where the input ended */
  die_malformed(in.off + (in.len - in.pos), "unexpected end of input (no end-of-archive marker)");
}

/* At least n (<= cap) bytes buffered; false at end of input. */
static bool in_fill(size_t n) {
  if (in.len - in.pos >= n) return true;
  if (in.pos + n > in.cap) {
    memmove(in.buf, in.buf + in.pos, in.len - in.pos);
    in.len -= in.pos;
    in.pos = 0;
  }
  while (in.len - in.pos < n) {
    ssize_t r = read(0, in.buf + in.len, in.cap - in.len);
    if (r < 0) {
      if (errno == EINTR) continue;
      die_errno(EXIT_IO, "read", "stdin");
    }
    if (r == 0) return false;
    in.len += (size_t)r;
  }
  return true;
}

static const char *in_take(size_t n) {
  if (!in_fill(n)) die_truncated();
  const char *p = in.buf + in.pos;
  in.pos += n;
  in.off += n;
  return p;
}

size_t in_chunk(uint64_t max, const char **p) {
  if (!in_fill(1)) die_truncated();
  size_t n = in.len - in.pos;
  if (n > max) n = (size_t)max;
  *p = in.buf + in.pos;
  in.pos += n;
  in.off += n;
  return n;
}

void in_skip(uint64_t n) {
  const char *p;
  while (n > 0) n -= in_chunk(n, &p);
}

static void in_read(char *dst, size_t n) {
  while (n > 0) {
    const char *p;
    size_t k = in_chunk(n, &p);
    memcpy(dst, p, k);
    dst += k;
    n -= k;
  }
}

static uint64_t padding(uint64_t size) { return (512 - size % 512) % 512; }

uint64_t in_map_number(uint64_t *used) {
  uint64_t v = 0, at = in.off;
  size_t digits = 0;
  for (;;) {
    char c = *in_take(1);
    (*used)++;
    if (c == '\n' && digits > 0) return v;
    if (c < '0' || c > '9' || digits >= 19) die_malformed(at, "bad GNU sparse map");
    v = v * 10 + (uint64_t)(c - '0');
    digits++;
  }
}

/* Octal (leading spaces, then digits up to a space or NUL) or GNU base-256. */
static bool parse_num(const char *f, size_t w, uint64_t *v) {
  const unsigned char *u = (const unsigned char *)f;
  *v = 0;
  if (u[0] & 0x80) {
    if (u[0] & 0x40) return false; /* negative */
    *v = u[0] & 0x3f;
    for (size_t i = 1; i < w; i++) {
      if (*v >> 56) return false;
      *v = *v << 8 | u[i];
    }
    return true;
  }
  size_t i = 0;
  while (i < w && f[i] == ' ') i++;
  for (; i < w && f[i] >= '0' && f[i] <= '7'; i++) {
    if (*v >> 60) return false;
    *v = *v << 3 | (uint64_t)(f[i] - '0');
  }
  return i == w || f[i] == ' ' || f[i] == 0;
}

static bool checksum_ok(const unsigned char *blk) {
  uint64_t want;
  if (!parse_num((const char *)blk + 148, 8, &want)) return false;
  unsigned sum = block_sum(blk) + 8 * ' '; /* the checksum field counts as spaces */
  for (size_t i = 148; i < 156; i++) sum -= blk[i];
  if (want == sum) return true;
  int ssum = 8 * ' '; /* some old tars summed signed bytes */
  for (size_t i = 0; i < 512; i++)
    if (i < 148 || i >= 156) ssum += (signed char)blk[i];
  return (int64_t)want == ssum;
}

static bool all_zero(const char *blk) {
  return blk[0] == 0 && memcmp(blk, blk + 1, 511) == 0;
}

/* What the 'x' headers before an entry said. */
struct pax {
  char *path, *linkpath, *sparse_name, *longname, *longlink;
  size_t path_len, linkpath_len, sparse_name_len;
  bool has_size, has_uid, has_gid, has_mtime, has_realsize, deleted, sparse_old;
  uint64_t size, uid, gid, realsize;
  int64_t mtime_s;
  uint32_t mtime_ns;
  int major, minor;
  struct xattr *xattrs;
  size_t n_xattrs;
};

static bool parse_dec(const char *v, size_t n, uint64_t *out) {
  *out = 0;
  if (n == 0 || n > 19) return false;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return false;
    *out = *out * 10 + (uint64_t)(v[i] - '0');
  }
  return true;
}

/* "-1.5" -> (-2, 500000000): seconds are the floor, nanoseconds positive. */
static bool parse_time(const char *v, size_t n, int64_t *s, uint32_t *ns) {
  bool neg = n > 0 && v[0] == '-';
  if (neg) {
    v++;
    n--;
  }
  size_t dot = 0;
  while (dot < n && v[dot] != '.') dot++;
  uint64_t secs, frac = 0;
  if (!parse_dec(v, dot, &secs) || secs > INT64_MAX / 2) return false;
  for (size_t i = dot + 1, digits = 0; i < n; i++, digits++) {
    if (v[i] < '0' || v[i] > '9') return false;
    if (digits < 9) frac = frac * 10 + (uint64_t)(v[i] - '0');
  }
  for (size_t digits = n > dot + 1 ? n - dot - 1 : 0; digits < 9; digits++) frac *= 10;
  *s = neg ? -(int64_t)secs : (int64_t)secs;
  *ns = (uint32_t)frac;
  if (neg && frac) {
    *s -= 1;
    *ns = 1000000000u - (uint32_t)frac;
  }
  return true;
}

#define KEY(lit) (klen == sizeof(lit) - 1 && memcmp(key, lit, klen) == 0)

static bool pax_record(struct pax *px, const char *key, size_t klen, const char *v, size_t n) {
  if (KEY("path")) {
    free(px->path);
    px->path = n ? xstrndup(v, n) : NULL;
    px->path_len = n;
  } else if (KEY("linkpath")) {
    free(px->linkpath);
    px->linkpath = n ? xstrndup(v, n) : NULL;
    px->linkpath_len = n;
  } else if (KEY("size")) {
    px->has_size = n && parse_dec(v, n, &px->size);
    return !n || px->has_size;
  } else if (KEY("uid")) {
    px->has_uid = n && parse_dec(v, n, &px->uid);
    return !n || px->has_uid;
  } else if (KEY("gid")) {
    px->has_gid = n && parse_dec(v, n, &px->gid);
    return !n || px->has_gid;
  } else if (KEY("mtime")) {
    px->has_mtime = n && parse_time(v, n, &px->mtime_s, &px->mtime_ns);
    return !n || px->has_mtime;
  } else if (KEY("GNU.sparse.major")) {
    px->major = n == 1 ? v[0] - '0' : -1;
  } else if (KEY("GNU.sparse.minor")) {
    px->minor = n == 1 ? v[0] - '0' : -1;
  } else if (KEY("GNU.sparse.name")) {
    free(px->sparse_name);
    px->sparse_name = xstrndup(v, n);
    px->sparse_name_len = n;
  } else if (KEY("GNU.sparse.realsize")) {
    px->has_realsize = parse_dec(v, n, &px->realsize);
    return px->has_realsize;
  } else if (KEY("GNU.sparse.size") || KEY("GNU.sparse.map") || KEY("GNU.sparse.numblocks") ||
             KEY("GNU.sparse.offset")) {
    px->sparse_old = true;
  } else if (KEY("TRANSSHIP.deleted")) {
    px->deleted = n == 1 && v[0] == '1';
  } else if (klen > 13 && memcmp(key, "SCHILY.xattr.", 13) == 0) {
    px->xattrs = xrealloc(px->xattrs, (px->n_xattrs + 1) * sizeof *px->xattrs);
    struct xattr *x = &px->xattrs[px->n_xattrs++];
    x->name = xstrndup(key + 13, klen - 13);
    x->value = xstrndup(v, n);
    x->len = n;
  }
  return true; /* atime, ctime, uname, TRANSSHIP.ino...: not needed here */
}

/* Records "<len> <key>=<value>\n", the length counting the whole record. */
static void parse_pax(struct pax *px, const char *d, size_t n, uint64_t at) {
  size_t i = 0;
  while (i < n) {
    if (d[i] == 0) break; /* trailing NUL padding some writers leave */
    size_t len = 0, j = i;
    while (j < n && d[j] >= '0' && d[j] <= '9' && j - i < 12) len = len * 10 + (size_t)(d[j++] - '0');
    if (j == i || j >= n || d[j] != ' ' || len < 5 || len > n - i || d[i + len - 1] != '\n')
      die_malformed(at + i, "bad pax record");
    const char *key = d + j + 1, *end = d + i + len - 1;
    const char *eq = memchr(key, '=', (size_t)(end - key));
    if (!eq || eq == key) die_malformed(at + i, "bad pax record");
    if (!pax_record(px, key, (size_t)(eq - key), eq + 1, (size_t)(end - eq - 1)))
      die_malformed(at + i, "bad pax value");
    i += len;
  }
}

static void pax_free(struct pax *px) {
  free(px->path);
  free(px->linkpath);
  free(px->sparse_name);
  free(px->longname);
  free(px->longlink);
  memset(px, 0, sizeof *px);
}

static char *read_blob(uint64_t size, uint64_t at) {
  if (size > MAX_PAX) die_malformed(at, "extended header too large");
  char *d = xmalloc((size_t)size + 1);
  in_read(d, (size_t)size);
  d[size] = 0;
  in_skip(padding(size));
  return d;
}

static char *checked_name(const char *raw, size_t len, uint64_t at, const char *what) {
  const char *why;
  char *name = normalize_name(raw, len, &why);
  if (!name) {
    char *shown = xstrndup(raw, len);
    die(EXIT_REFUSED, "entry at byte %" PRIu64 ": %s %s: %s", at, what, printable(shown), why);
  }
  return name;
}

static void fill_entry(struct entry *e, const char *blk, struct pax *px, uint64_t size) {
  bool ustar = memcmp(blk + 257, "ustar\0", 6) == 0;
  char raw[257];
  uint64_t v;
  size_t rawlen;
  if (ustar && blk[345]) {
    size_t pl = strnlen(blk + 345, 155), nl = strnlen(blk, 100);
    memcpy(raw, blk + 345, pl);
    raw[pl] = '/';
    memcpy(raw + pl + 1, blk, nl);
    rawlen = pl + 1 + nl;
  } else {
    rawlen = strnlen(blk, 100);
    memcpy(raw, blk, rawlen);
  }
  e->type = blk[156];
  if (e->type == 0 || e->type == '7') e->type = '0';
  if (e->type == '0' && rawlen && raw[rawlen - 1] == '/' && !px->path) e->type = '5';
  if (!strchr("0123456", e->type)) die_malformed(e->offset, "unsupported entry type");
  e->deleted = px->deleted;

  e->sparse = px->major == 1 && px->minor == 0;
  if (px->sparse_old || (px->major >= 0 && px->major != 0 && !e->sparse))
    die_malformed(e->offset, "unsupported GNU sparse format (only 1.0 is read)");
  if (e->sparse && (!px->sparse_name || !px->has_realsize))
    die_malformed(e->offset, "GNU sparse 1.0 entry without name or realsize");
  if (e->sparse)
    e->name = checked_name(px->sparse_name, px->sparse_name_len, e->offset, "name");
  else if (px->path)
    e->name = checked_name(px->path, px->path_len, e->offset, "name");
  else if (px->longname)
    e->name = checked_name(px->longname, strlen(px->longname), e->offset, "name");
  else
    e->name = checked_name(raw, rawlen, e->offset, "name");
  e->realsize = px->realsize;

  const char *link = px->linkpath ? px->linkpath : px->longlink;
  size_t linklen = px->linkpath ? px->linkpath_len : link ? strlen(link) : strnlen(blk + 157, 100);
  if (!link) link = blk + 157;
  if (e->type == '1') {
    e->link = checked_name(link, linklen, e->offset, "hard link target");
  } else if (e->type == '2') {
    if (linklen == 0 || memchr(link, 0, linklen))
      die(EXIT_REFUSED, "entry at byte %" PRIu64 ": symlink %s: empty target or NUL byte",
          e->offset, printable(e->name));
    e->link = xstrndup(link, linklen);
  }

  if (!parse_num(blk + 100, 8, &v)) die_malformed(e->offset, "bad mode field");
  e->mode = (unsigned)(v & 07777);
  if (px->has_uid)
    e->uid = px->uid;
  else if (!parse_num(blk + 108, 8, &e->uid))
    die_malformed(e->offset, "bad uid field");
  if (px->has_gid)
    e->gid = px->gid;
  else if (!parse_num(blk + 116, 8, &e->gid))
    die_malformed(e->offset, "bad gid field");
  if (px->has_mtime) {
    e->mtime_s = px->mtime_s;
    e->mtime_ns = px->mtime_ns;
  } else {
    if (!parse_num(blk + 136, 12, &v)) die_malformed(e->offset, "bad mtime field");
    e->mtime_s = (int64_t)v;
    e->mtime_ns = 0;
  }
  if (e->uid >= UINT32_MAX || e->gid >= UINT32_MAX) /* (uid_t)-1 would mean "unchanged" */
    die_malformed(e->offset, "uid or gid out of range");
  if (e->type == '3' || e->type == '4') {
    if (!parse_num(blk + 329, 8, &v)) die_malformed(e->offset, "bad devmajor field");
    e->devmajor = (unsigned)v;
    if (!parse_num(blk + 337, 8, &v)) die_malformed(e->offset, "bad devminor field");
    e->devminor = (unsigned)v;
  }
  e->size = size;
  e->xattrs = px->xattrs;
  e->n_xattrs = px->n_xattrs;
  px->xattrs = NULL;
  px->n_xattrs = 0;
}

bool tar_next(struct entry *e) {
  struct pax px = {.major = -1, .minor = -1};
  memset(e, 0, sizeof *e);
  e->offset = in.off;
  for (;;) {
    uint64_t at = in.off;
    const char *blk = in_take(512);
    if (all_zero(blk)) {
      if (!all_zero(in_take(512))) die_malformed(at + 512, "a lone zero block before a header");
      pax_free(&px);
      return false;
    }
    if (!checksum_ok((const unsigned char *)blk)) die_malformed(at, "bad header checksum");
    uint64_t size;
    if (!parse_num(blk + 124, 12, &size)) die_malformed(at, "bad size field");
    char type = blk[156];
    if (type == 'x') {
      char *d = read_blob(size, at);
      parse_pax(&px, d, (size_t)size, at + 512);
      free(d);
    } else if (type == 'g') {
      in_skip(size + padding(size));
    } else if (type == 'L' || type == 'K') {
      char *d = read_blob(size, at);
      d[strnlen(d, (size_t)size)] = 0;
      free(type == 'L' ? px.longname : px.longlink);
      *(type == 'L' ? &px.longname : &px.longlink) = d;
    } else {
      char hdr[512];
      memcpy(hdr, blk, 512); /* reading pax data may have moved the buffer */
      if (px.has_size) size = px.size;
      fill_entry(e, hdr, &px, size);
      pax_free(&px);
      return true;
    }
  }
}

void entry_free(struct entry *e) {
  free(e->name);
  free(e->link);
  for (size_t i = 0; i < e->n_xattrs; i++) {
    free(e->xattrs[i].name);
    free(e->xattrs[i].value);
  }
  free(e->xattrs);
  memset(e, 0, sizeof *e);
}
