/* The tree walk shared by scan and pack: one open fd per directory level, every entry
   named relative to its parent's fd, so no symlink is ever followed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

struct walker {
  walk_fn fn;
  void *ctx;
  struct meta root;
  struct sbuf path; /* the current directory's relative path, "" for ROOT */
  char *dents;      /* getdents64 buffer */
};

enum { DENTS_SIZE = 256 * 1024 };

/* A directory's names, in one arena, sorted bytewise. */
struct names {
  struct sbuf arena;
  size_t *offs;
  size_t n;
};

static int cmp_names(const void *a, const void *b, void *arena) {
  const char *base = arena;
  return strcmp(base + *(const size_t *)a, base + *(const size_t *)b);
}

static void read_names(struct walker *w, int dfd, struct names *out) {
  size_t cap = 0;
  memset(out, 0, sizeof *out);
  for (;;) {
    ssize_t n = getdents64(dfd, w->dents, DENTS_SIZE);
    if (n < 0) die_errno(EXIT_IO, "read directory", w->path.len ? w->path.p : ".");
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      struct dirent64 *d = (struct dirent64 *)(w->dents + off);
      off += d->d_reclen;
      const char *nm = d->d_name;
      if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
      if (out->n == cap) {
        cap = cap ? cap * 2 : 64;
        out->offs = xrealloc(out->offs, cap * sizeof *out->offs);
      }
      out->offs[out->n++] = out->arena.len;
      sb_add(&out->arena, nm, strlen(nm) + 1);
    }
  }
  if (out->n > 1) qsort_r(out->offs, out->n, sizeof *out->offs, cmp_names, out->arena.p);
}

static void visit_children(struct walker *w, int dfd);

/* Stats one child, applies the skip rules, calls fn, and descends into directories. */
static void visit(struct walker *w, int dfd, const char *name) {
  struct walk_entry e = {.path = w->path.p, .dirfd = dfd, .name = name, .fd = -1};
  if (is_excluded(w->path.p)) return;
  struct timespec now = now_realtime();
  if (meta_at(dfd, name, &e.m) != 0) {
    if (errno != ENOENT) die_errno(EXIT_IO, "stat", w->path.p);
    warn_path(w->path.p, "vanished, skipped");
    return;
  }
  if (!tar_type(e.m.mode)) return; /* sockets are not carried */
  if (!same_mount(&e.m, &w->root)) {
    warn_path(w->path.p, "another file system, skipped");
    return;
  }
  if (S_ISDIR(e.m.mode)) {
    e.fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (e.fd < 0) {
      if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
        die_errno(EXIT_IO, "open", w->path.p);
      warn_path(w->path.p, "vanished, skipped");
      return;
    }
    /* stat what was opened, so that the header and the content agree */
    now = now_realtime();
    if (meta_at(e.fd, "", &e.m) != 0) die_errno(EXIT_IO, "stat", w->path.p);
  }
  e.racy = is_racy(&e.m, &now);
  w->fn(&e, w->ctx);
  if (e.fd >= 0) {
    visit_children(w, e.fd);
    close(e.fd);
  }
}

static void visit_children(struct walker *w, int dfd) {
  struct names names;
  read_names(w, dfd, &names);
  size_t saved = w->path.len;
  for (size_t i = 0; i < names.n; i++) {
    const char *name = names.arena.p + names.offs[i];
    if (saved) sb_addc(&w->path, '/');
    sb_addstr(&w->path, name);
    visit(w, dfd, name);
    w->path.len = saved;
    w->path.p[saved] = 0;
  }
  free(names.arena.p);
  free(names.offs);
}

void walk_tree(int rootfd, walk_fn fn, void *ctx) {
  struct walker w = {.fn = fn, .ctx = ctx};
  struct walk_entry e = {.path = ".", .dirfd = rootfd, .name = "", .fd = rootfd};
  struct timespec now = now_realtime();
  if (meta_at(rootfd, "", &e.m) != 0) die_errno(EXIT_IO, "stat", ".");
  w.root = e.m;
  if (is_excluded(".")) return;
  e.racy = is_racy(&e.m, &now);
  fn(&e, ctx);
  w.dents = xmalloc(DENTS_SIZE);
  sb_addstr(&w.path, "");
  visit_children(&w, rootfd);
  free(w.dents);
  free(w.path.p);
}

int open_root(const char *root) {
  int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    struct stat st;
    int err = errno;
    if ((err == ELOOP || err == ENOTDIR) && lstat(root, &st) == 0 && S_ISLNK(st.st_mode))
      die(EXIT_REFUSED, "ROOT %s is a symlink: not followed", printable(root));
    errno = err;
    die_errno(errno == ENOENT || errno == ENOTDIR ? EXIT_REFUSED : EXIT_IO, "open ROOT", root);
  }
  g_root_arg = root;
  return fd;
}
