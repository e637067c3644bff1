/* scan: one NUL-terminated metadata record per entry, in walk order. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

/* --checksum: the regular file's sha256 after its lstat, in hex; racy when it changed while
   read. False when it vanished (or something else took its name) before it was opened. */
static bool scan_checksum(struct walk_entry *e, char hex[65]) {
  int fd = open_regular(e->dirfd, e->name);
  if (fd < 0) {
    if (errno == ENOENT || errno == ELOOP || errno == ENXIO) return false;
    die_errno(EXIT_IO, "open", e->path);
  }
  struct regions rg = {0};
  bool sparse = e->m.blocks * 512 < e->m.size && find_regions(fd, e->m.size, &rg);
  unsigned char digest[32];
  if (!hash_content(fd, e->m.size, sparse ? &rg : NULL, digest, e->path) ||
      changed_since(fd, &e->m))
    e->racy = true;
  sha256_hex(digest, hex);
  free(rg.r);
  close(fd);
  return true;
}

static void scan_entry(struct walk_entry *e, void *ctx) {
  const bool *with_checksum = ctx;
  char line[512], hex[65] = "-";
  if (*with_checksum && S_ISREG(e->m.mode) && !scan_checksum(e, hex)) {
    warn_path(e->path, "vanished, skipped");
    return;
  }
  int n = sprintf(line, "%c %o %" PRIu32 " %" PRIu32 " %" PRIu64 " ", tar_type(e->m.mode),
                  (unsigned)(e->m.mode & 07777), (uint32_t)e->m.uid, (uint32_t)e->m.gid,
                  S_ISDIR(e->m.mode) ? (uint64_t)0 : e->m.size);
  n += fmt_time_floor(line + n, e->m.mtime_s, e->m.mtime_ns);
  line[n++] = ' ';
  n += fmt_time_floor(line + n, e->m.ctime_s, e->m.ctime_ns);
  n += sprintf(line + n, " %" PRIu64 " %" PRIu64 " %d ", e->m.ino, e->m.nlink, e->racy ? 1 : 0);
  if (*with_checksum) n += sprintf(line + n, "%s ", hex);
  out_write(line, (size_t)n);
  out_write(e->path, strlen(e->path) + 1); /* the NUL ends the record */
}

int cmd_scan(const char *root, bool checksum) {
  int rootfd = open_root(root);
  out_init();
  walk_tree(rootfd, scan_entry, &checksum);
  out_flush();
  close(rootfd);
  return 0;
}
