/* Extended attributes as SCHILY.xattr pax records (the form GNU tar and Go read). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "helper.h"

static bool carried(const char *name) {
  /* system.* holds POSIX ACLs and file system internals: not carried (see README). */
  return strncmp(name, "system.", 7) != 0;
}

static ssize_t list_names(int fd, const char *path, char *buf, size_t size) {
  return fd >= 0 ? flistxattr(fd, buf, size) : llistxattr(path, buf, size);
}

static ssize_t get_value(int fd, const char *path, const char *name, void *buf, size_t size) {
  return fd >= 0 ? fgetxattr(fd, name, buf, size) : lgetxattr(path, name, buf, size);
}

void xattrs_collect(struct sbuf *records, int fd, int dirfd, const char *name,
                    const char *relpath) {
  static char *names, *value;
  static size_t names_cap, value_cap;
  const char *path = fd >= 0 ? NULL : xattr_path(dirfd, name, relpath);
  ssize_t n;
  for (;;) {
    n = list_names(fd, path, names, names_cap);
    if (n >= 0 && (names_cap > 0 || n == 0)) break;
    if (n < 0 && errno != ERANGE) {
      if (errno == ENOTSUP || errno == ENOENT) return; /* none here, or gone */
      die_errno(EXIT_IO, "listxattr", relpath);
    }
    size_t want = (size_t)list_names(fd, path, NULL, 0);
    if ((ssize_t)want < 0) die_errno(EXIT_IO, "listxattr", relpath);
    names_cap = want + 256;
    names = xrealloc(names, names_cap);
  }
  struct sbuf key = {0};
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1) {
    const char *xname = names + i;
    if (!carried(xname)) continue;
    ssize_t v;
    for (;;) {
      v = get_value(fd, path, xname, value, value_cap);
      if (v >= 0 && (value_cap > 0 || v == 0)) break;
      if (v < 0 && errno != ERANGE) break;
      ssize_t want = get_value(fd, path, xname, NULL, 0);
      if (want < 0) break;
      value_cap = (size_t)want + 256;
      value = xrealloc(value, value_cap);
    }
    if (v < 0) {
      if (errno == ENODATA) continue; /* removed since it was listed */
      die_errno(EXIT_IO, "getxattr", relpath);
    }
    sb_clear(&key);
    sb_addstr(&key, "SCHILY.xattr.");
    sb_addstr(&key, xname);
    pax_add(records, key.p, value, (size_t)v);
  }
  free(key.p);
}

void xattrs_apply(const struct xattr *xs, size_t n, int fd, int dirfd, const char *name,
                  const char *relpath) {
  for (size_t i = 0; i < n; i++) {
    if (!carried(xs[i].name)) continue;
    int r = fd >= 0 ? fsetxattr(fd, xs[i].name, xs[i].value, xs[i].len, 0)
                    : lsetxattr(xattr_path(dirfd, name, relpath), xs[i].name, xs[i].value,
                                xs[i].len, 0);
    if (r != 0) {
      int err = errno;
      struct sbuf op = {0};
      sb_addstr(&op, "setxattr ");
      sb_addstr(&op, xs[i].name);
      sb_addstr(&op, " on");
      errno = err;
      die_errno(EXIT_IO, op.p, relpath);
    }
  }
}
