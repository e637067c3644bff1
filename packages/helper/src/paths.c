/* Relative names: validation, excludes, and resolving parents without following symlinks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

const char *g_root_arg = ".";

char *normalize_name(const char *raw, size_t len, const char **why) {
  if (len == 0) {
    *why = "empty name";
    return NULL;
  }
  if (memchr(raw, 0, len)) {
    *why = "NUL byte in name";
    return NULL;
  }
  if (raw[0] == '/') {
    *why = "absolute name";
    return NULL;
  }
  char *out = xmalloc(len + 2);
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    size_t j = i;
    while (j < len && raw[j] != '/') j++;
    size_t n = j - i;
    if (n == 2 && raw[i] == '.' && raw[i + 1] == '.') {
      free(out);
      *why = "'..' component in name";
      return NULL;
    }
    if (n > 0 && !(n == 1 && raw[i] == '.')) {
      if (o > 0) out[o++] = '/';
      memcpy(out + o, raw + i, n);
      o += n;
    }
    i = j + 1;
  }
  if (o == 0) out[o++] = '.';
  out[o] = 0;
  return out;
}

static char **excludes;
static size_t n_excludes;

void exclude_add(const char *raw) {
  const char *why;
  char *p = normalize_name(raw, strlen(raw), &why);
  if (!p) die(EXIT_REFUSED, "--exclude %s: %s", printable(raw), why);
  excludes = xrealloc(excludes, (n_excludes + 1) * sizeof *excludes);
  excludes[n_excludes++] = p;
}

/* The path itself or one of its parents is excluded. */
bool is_excluded(const char *path) {
  size_t len = strlen(path);
  for (size_t i = 0; i < n_excludes; i++) {
    const char *e = excludes[i];
    size_t n = strlen(e);
    if (n == 1 && e[0] == '.') return true;
    if (n <= len && memcmp(path, e, n) == 0 && (path[n] == 0 || path[n] == '/')) return true;
  }
  return false;
}

const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* Tells ELOOP (a symlink) from ENOTDIR (another non-directory) for name under fd. */
static int classify(int fd, const char *name, int err) {
  struct stat st;
  if (err != ELOOP && err != ENOTDIR) return err;
  if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return err;
  return S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
}

int open_parent(int rootfd, const char *path, bool create, const char **base,
                void (*creating)(const char *dirpath, int parentfd, void *ctx), void *ctx) {
  const char *last = strrchr(path, '/');
  int fd = dup(rootfd);
  if (fd < 0) return -1;
  if (strcmp(path, ".") == 0) {
    *base = "";
    return fd;
  }
  if (!last) {
    *base = path;
    return fd;
  }
  char *buf = xstrndup(path, (size_t)(last - path));
  char *comp = buf;
  for (;;) {
    char *slash = strchr(comp, '/');
    if (slash) *slash = 0;
    int nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (nfd < 0 && errno == ENOENT && create) {
      if (creating) creating(buf, fd, ctx); /* buf holds the path up to comp */
      if (mkdirat(fd, comp, 0755) == 0 || errno == EEXIST)
        nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (nfd < 0) {
      int err = classify(fd, comp, errno);
      close(fd);
      free(buf);
      errno = err;
      return -1;
    }
    close(fd);
    fd = nfd;
    if (!slash) break;
    *slash = '/';
    comp = slash + 1;
  }
  free(buf);
  *base = last + 1;
  return fd;
}

const char *xattr_path(int dirfd, const char *name, const char *relpath) {
  static int have_proc = -1;
  static struct sbuf b;
  if (have_proc < 0) have_proc = access("/proc/self/fd", X_OK) == 0;
  sb_clear(&b);
  if (have_proc) {
    char num[32];
    snprintf(num, sizeof num, "/proc/self/fd/%d", dirfd);
    sb_addstr(&b, num);
    if (name[0]) {
      sb_addc(&b, '/');
      sb_addstr(&b, name);
    }
  } else {
    sb_addstr(&b, g_root_arg);
    if (strcmp(relpath, ".") != 0) {
      sb_addc(&b, '/');
      sb_addstr(&b, relpath);
    }
  }
  return b.p;
}
