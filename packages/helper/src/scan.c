/* scan: one NUL-terminated metadata record per entry, in walk order. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

static void scan_entry(struct walk_entry *e, void *ctx) {
  (void)ctx;
  char line[512];
  int n = sprintf(line, "%c %o %" PRIu32 " %" PRIu32 " %" PRIu64 " ", tar_type(e->m.mode),
                  (unsigned)(e->m.mode & 07777), (uint32_t)e->m.uid, (uint32_t)e->m.gid,
                  S_ISDIR(e->m.mode) ? (uint64_t)0 : e->m.size);
  n += fmt_time_floor(line + n, e->m.mtime_s, e->m.mtime_ns);
  line[n++] = ' ';
  n += fmt_time_floor(line + n, e->m.ctime_s, e->m.ctime_ns);
  n += sprintf(line + n, " %" PRIu64 " %" PRIu64 " %d ", e->m.ino, e->m.nlink, e->racy ? 1 : 0);
  out_write(line, (size_t)n);
  out_write(e->path, strlen(e->path) + 1); /* the NUL ends the record */
}

int cmd_scan(const char *root) {
  int rootfd = open_root(root);
  out_init();
  walk_tree(rootfd, scan_entry, NULL);
  out_flush();
  close(rootfd);
  return 0;
}
