/* Errors, memory and the buffered stdout. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"

const char *g_command = "";
struct outbuf g_out;

_Noreturn void die(int code, const char *fmt, ...) {
  va_list ap;
  /* stdout may hold buffered output: the stream is broken anyway, drop it. */
  fprintf(stderr, "transship-helper: %s: ", g_command);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(code);
}

_Noreturn void die_errno(int code, const char *op, const char *path) {
  const char *text = strerror(errno);
  die(code, "%s %s: %s", op, printable(path), text);
}

void warn_path(const char *path, const char *what) {
  fprintf(stderr, "warning: %s: %s\n", printable(path), what);
}

/* Escapes bytes that would break a one-line message; bytes >= 0x80 pass as they are. */
const char *printable(const char *path) {
  static char *buf;
  static size_t cap;
  size_t need = strlen(path) * 4 + 1;
  if (need > cap) {
    cap = need;
    buf = xrealloc(buf, cap);
  }
  char *o = buf;
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if (*p == '\\') {
      *o++ = '\\';
      *o++ = '\\';
    } else if (*p == '\n') {
      *o++ = '\\';
      *o++ = 'n';
    } else if (*p < 0x20 || *p == 0x7f) {
      o += sprintf(o, "\\x%02x", *p);
    } else {
      *o++ = (char)*p;
    }
  }
  *o = 0;
  return buf;
}

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) die(EXIT_IO, "out of memory (%zu bytes)", n);
  return p;
}

void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) die(EXIT_IO, "out of memory (%zu bytes)", n);
  return p;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n) {
  char *p = xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

void sb_add(struct sbuf *b, const void *data, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = 0; /* always a C string too */
}

void sb_addstr(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }
void sb_addc(struct sbuf *b, char c) { sb_add(b, &c, 1); }
void sb_clear(struct sbuf *b) {
  b->len = 0;
  if (b->p) b->p[0] = 0;
}

bool write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    c += w;
    n -= (size_t)w;
  }
  return true;
}

bool pwrite_all(int fd, const void *p, size_t n, off_t off) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = pwrite(fd, c, n, off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    c += w;
    n -= (size_t)w;
    off += w;
  }
  return true;
}

void grow_pipe(int fd) {
  int size = fcntl(fd, F_GETPIPE_SZ);
  if (size > 0 && size < (int)BIG_BUFFER) fcntl(fd, F_SETPIPE_SZ, (int)BIG_BUFFER);
}

void out_init(void) {
  g_out.cap = BIG_BUFFER;
  g_out.buf = xmalloc(g_out.cap);
  g_out.len = 0;
  grow_pipe(1);
}

void out_flush(void) {
  if (g_out.len == 0) return;
  if (!write_all(1, g_out.buf, g_out.len)) die_errno(EXIT_IO, "write", "stdout");
  g_out.len = 0;
  g_out.flushes++;
}

void out_write(const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    size_t avail;
    char *dst = out_space(&avail);
    size_t k = n < avail ? n : avail;
    memcpy(dst, c, k);
    out_commit(k);
    c += k;
    n -= k;
  }
}

void out_zeros(size_t n) {
  while (n > 0) {
    size_t avail;
    char *dst = out_space(&avail);
    size_t k = n < avail ? n : avail;
    memset(dst, 0, k);
    out_commit(k);
    n -= k;
  }
}

char *out_space(size_t *avail) {
  if (g_out.len == g_out.cap) out_flush();
  *avail = g_out.cap - g_out.len;
  return g_out.buf + g_out.len;
}

void out_commit(size_t n) { g_out.len += n; }
