/* lstat through statx (nanosecond times and the mount id), with an fstatat fallback for
   kernels or seccomp profiles without statx. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "helper.h"

static bool no_statx;

static void from_statx(const struct statx *x, struct meta *m) {
  m->mode = x->stx_mode;
  m->uid = x->stx_uid;
  m->gid = x->stx_gid;
  m->size = x->stx_size;
  m->blocks = x->stx_blocks;
  m->ino = x->stx_ino;
  m->nlink = x->stx_nlink;
  m->dev = makedev(x->stx_dev_major, x->stx_dev_minor);
  m->mnt_id = (x->stx_mask & STATX_MNT_ID) ? x->stx_mnt_id : 0;
  m->rdev_major = x->stx_rdev_major;
  m->rdev_minor = x->stx_rdev_minor;
  m->mtime_s = x->stx_mtime.tv_sec;
  m->mtime_ns = x->stx_mtime.tv_nsec;
  m->ctime_s = x->stx_ctime.tv_sec;
  m->ctime_ns = x->stx_ctime.tv_nsec;
  m->atime_s = x->stx_atime.tv_sec;
  m->atime_ns = x->stx_atime.tv_nsec;
}

static void from_stat(const struct stat *s, struct meta *m) {
  m->mode = s->st_mode;
  m->uid = s->st_uid;
  m->gid = s->st_gid;
  m->size = (uint64_t)s->st_size;
  m->blocks = (uint64_t)s->st_blocks;
  m->ino = s->st_ino;
  m->nlink = s->st_nlink;
  m->dev = s->st_dev;
  m->mnt_id = 0;
  m->rdev_major = major(s->st_rdev);
  m->rdev_minor = minor(s->st_rdev);
  m->mtime_s = s->st_mtim.tv_sec;
  m->mtime_ns = (uint32_t)s->st_mtim.tv_nsec;
  m->ctime_s = s->st_ctim.tv_sec;
  m->ctime_ns = (uint32_t)s->st_ctim.tv_nsec;
  m->atime_s = s->st_atim.tv_sec;
  m->atime_ns = (uint32_t)s->st_atim.tv_nsec;
}

int meta_at(int dirfd, const char *name, struct meta *m) {
  int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | (name[0] ? 0 : AT_EMPTY_PATH);
  if (!no_statx) {
    struct statx x;
    if (statx(dirfd, name, flags, STATX_BASIC_STATS | STATX_MNT_ID, &x) == 0) {
      from_statx(&x, m);
      return 0;
    }
    if (errno != ENOSYS && errno != EPERM) return -1;
    no_statx = true; /* an old kernel, or a seccomp profile that predates statx */
  }
  struct stat s;
  if (fstatat(dirfd, name, &s, flags) != 0) return -1;
  from_stat(&s, m);
  return 0;
}

bool same_mount(const struct meta *a, const struct meta *b) {
  if (a->mnt_id && b->mnt_id) return a->mnt_id == b->mnt_id;
  return a->dev == b->dev;
}

struct timespec now_realtime(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

bool is_racy(const struct meta *m, const struct timespec *now) {
  /* Not racy only when ctime + 2 s <= now. */
  int64_t limit = m->ctime_s + 2;
  if (limit < now->tv_sec) return false;
  if (limit == now->tv_sec && m->ctime_ns <= (uint64_t)now->tv_nsec) return false;
  return true;
}

int fmt_time_floor(char *dst, int64_t s, uint32_t ns) {
  return sprintf(dst, "%" PRId64 ".%09" PRIu32, s, ns);
}

int fmt_time_decimal(char *dst, int64_t s, uint32_t ns) {
  if (s >= 0 || ns == 0) return fmt_time_floor(dst, s, ns);
  /* floor form (-2, 0.5) is the number -1.5 */
  return sprintf(dst, "-%" PRId64 ".%09" PRIu32, -(s + 1), 1000000000u - ns);
}

char tar_type(mode_t mode) {
  switch (mode & S_IFMT) {
  case S_IFREG: return '0';
  case S_IFLNK: return '2';
  case S_IFCHR: return '3';
  case S_IFBLK: return '4';
  case S_IFDIR: return '5';
  case S_IFIFO: return '6';
  default: return 0;
  }
}
