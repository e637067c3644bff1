/* transship-helper: scan, pack and unpack a directory tree for transship's helper container.
   A static binary with no dependency but libc: it runs in any image. See README.md. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper.h"

int cmd_scan(const char *root, bool checksum);
int cmd_pack(const char *root, bool paths, bool xattrs, bool checksum);
int cmd_unpack(const char *root, bool xattrs);

static const char usage[] =
    "usage: transship-helper scan ROOT [--exclude REL]... [--checksum]\n"
    "       transship-helper pack ROOT [--exclude REL]... [--paths] [--xattrs] [--checksum]\n"
    "       transship-helper unpack ROOT [--xattrs]\n";

static _Noreturn void bad_usage(const char *why, const char *arg) {
  fprintf(stderr, "transship-helper: %s%s%s\n%s", why, arg ? ": " : "", arg ? arg : "", usage);
  exit(EXIT_REFUSED);
}

int main(int argc, char **argv) {
  if (argc < 2) bad_usage("no command", NULL);
  const char *cmd = argv[1], *root = NULL;
  bool paths = false, xattrs = false, checksum = false;
  bool is_scan = strcmp(cmd, "scan") == 0, is_pack = strcmp(cmd, "pack") == 0,
       is_unpack = strcmp(cmd, "unpack") == 0;
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (!is_scan && !is_pack && !is_unpack) bad_usage("unknown command", cmd);
  g_command = cmd;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--exclude") == 0 && !is_unpack) {
      if (++i == argc) bad_usage("--exclude needs a relative path", NULL);
      exclude_add(argv[i]);
    } else if (strncmp(a, "--exclude=", 10) == 0 && !is_unpack) {
      exclude_add(a + 10);
    } else if (strcmp(a, "--paths") == 0 && is_pack) {
      paths = true;
    } else if (strcmp(a, "--xattrs") == 0 && !is_scan) {
      xattrs = true;
    } else if (strcmp(a, "--checksum") == 0 && !is_unpack) {
      checksum = true;
    } else if (a[0] == '-' && a[1] != 0) {
      bad_usage("unknown option", a);
    } else if (!root) {
      root = a;
    } else {
      bad_usage("one ROOT only", a);
    }
  }
  if (!root) bad_usage("no ROOT", NULL);
  /* a reader that went away is a write error (exit 1), not a silent death by signal */
  signal(SIGPIPE, SIG_IGN);
  if (is_scan) return cmd_scan(root, checksum);
  if (is_pack) return cmd_pack(root, paths, xattrs, checksum);
  return cmd_unpack(root, xattrs);
}
