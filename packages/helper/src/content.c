/* Reading regular files, for pack's data and for the sha256 of scan and pack --checksum:
   opening without following or hanging, sparse regions, change detection, hashing. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

int open_regular(int dirfd, const char *name) {
  /* O_NONBLOCK: should a FIFO have taken the name since the stat, do not hang on it. */
  int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  int fd = openat(dirfd, name, flags | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = openat(dirfd, name, flags); /* not the owner */
  return fd;
}

size_t read_some(int fd, void *buf, size_t want, int64_t off, const char *path) {
  for (;;) {
    ssize_t r = off < 0 ? read(fd, buf, want) : pread(fd, buf, want, (off_t)off);
    if (r >= 0) return (size_t)r;
    if (errno == EINTR) continue;
    if (errno == EAGAIN && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == 0)
      continue; /* a file system that honours O_NONBLOCK (see open_regular) */
    die_errno(EXIT_IO, "read", path);
  }
}

bool changed_since(int fd, const struct meta *before) {
  struct meta after;
  if (meta_at(fd, "", &after) != 0) return true;
  return !S_ISREG(after.mode) || after.ino != before->ino || after.dev != before->dev ||
         after.size != before->size || after.ctime_s != before->ctime_s ||
         after.ctime_ns != before->ctime_ns;
}

static void region_add(struct regions *rg, uint64_t off, uint64_t len) {
  if (rg->n == rg->cap) {
    rg->cap = rg->cap ? rg->cap * 2 : 16;
    rg->r = xrealloc(rg->r, rg->cap * sizeof *rg->r);
  }
  rg->r[rg->n][0] = off;
  rg->r[rg->n][1] = len;
  rg->n++;
}

bool find_regions(int fd, uint64_t size, struct regions *rg) {
  uint64_t off = 0;
  rg->n = 0;
  while (off < size) {
    off_t d = lseek(fd, (off_t)off, SEEK_DATA);
    if (d < 0) {
      if (errno == ENXIO) break; /* only a hole from here to the end */
      return false;
    }
    if ((uint64_t)d >= size) break;
    off_t h = lseek(fd, d, SEEK_HOLE);
    if (h < 0) return false;
    uint64_t end = (uint64_t)h < size ? (uint64_t)h : size;
    region_add(rg, (uint64_t)d, end - (uint64_t)d);
    off = end;
  }
  if (rg->n == 1 && rg->r[0][0] == 0 && rg->r[0][1] == size) return false;
  region_add(rg, size, 0);
  return true;
}

void sha256_zeros(struct sha256 *c, uint64_t n) {
  static const unsigned char zeros[64 * 1024];
  while (n > 0) {
    size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
    sha256_update(c, zeros, k);
    n -= k;
  }
}

/* Hashes len bytes at off, zeros standing in for what the file no longer has. */
static bool hash_range(struct sha256 *c, int fd, uint64_t off, uint64_t len, const char *path) {
  static unsigned char *buf;
  if (!buf) buf = xmalloc(BIG_BUFFER);
  while (len > 0) {
    size_t want = len < BIG_BUFFER ? (size_t)len : BIG_BUFFER;
    size_t r = read_some(fd, buf, want, (int64_t)off, path);
    if (r == 0) {
      sha256_zeros(c, len);
      return false;
    }
    sha256_update(c, buf, r);
    off += r;
    len -= r;
  }
  return true;
}

bool hash_content(int fd, uint64_t size, const struct regions *rg, unsigned char digest[32],
                  const char *path) {
  struct sha256 c;
  bool complete = true;
  sha256_init(&c);
  if (rg) {
    uint64_t pos = 0;
    for (size_t i = 0; i < rg->n; i++) {
      sha256_zeros(&c, rg->r[i][0] - pos); /* the hole before the region, not read */
      complete &= hash_range(&c, fd, rg->r[i][0], rg->r[i][1], path);
      pos = rg->r[i][0] + rg->r[i][1];
    }
  } else {
    complete = hash_range(&c, fd, 0, size, path);
  }
  sha256_final(&c, digest);
  return complete;
}
