/* POSIX pax output: ustar header blocks and 'x' extended headers. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "helper.h"

unsigned block_sum(const void *block) {
  /* Eight bytes at a time, in 16-bit lanes (64 words of at most 2 * 255 per lane fit);
     a plain byte loop is not vectorized at -O2 and showed in unpack's profile. */
  const unsigned char *b = block;
  uint64_t lanes = 0;
  for (size_t i = 0; i < 512; i += 8) {
    uint64_t w;
    memcpy(&w, b + i, 8);
    lanes += (w & 0x00ff00ff00ff00ffull) + ((w >> 8) & 0x00ff00ff00ff00ffull);
  }
  lanes = (lanes & 0xffff) + ((lanes >> 16) & 0xffff) + ((lanes >> 32) & 0xffff) + (lanes >> 48);
  return (unsigned)lanes;
}

/* width bytes: width-1 octal digits and a NUL; zeros when v does not fit (pax has it). */
static void put_octal(char *dst, size_t width, uint64_t v) {
  size_t digits = width - 1;
  if (digits < 22 && v >> (3 * digits)) v = 0;
  dst[digits] = 0;
  for (size_t i = digits; i-- > 0; v >>= 3) dst[i] = (char)('0' + (v & 7));
}

/* ustar keeps 100 bytes of name, or 155 of prefix + '/' + 100; longer ones are cut. */
static void put_name(char *blk, const char *name) {
  size_t len = strlen(name);
  if (len <= 100) {
    memcpy(blk, name, len);
    return;
  }
  for (size_t i = 0; i < len && i <= 155; i++) {
    if (name[i] == '/' && len - i - 1 <= 100 && len - i - 1 > 0) {
      memcpy(blk + 345, name, i);
      memcpy(blk, name + i + 1, len - i - 1);
      return;
    }
  }
  memcpy(blk, name, 100);
}

void tar_header(const struct ustar *h) {
  char blk[512];
  memset(blk, 0, sizeof blk);
  put_name(blk, h->name);
  put_octal(blk + 100, 8, h->mode & 07777);
  put_octal(blk + 108, 8, h->uid);
  put_octal(blk + 116, 8, h->gid);
  put_octal(blk + 124, 12, h->size);
  put_octal(blk + 136, 12, h->mtime < 0 ? 0 : (uint64_t)h->mtime);
  blk[156] = h->type;
  if (h->link) {
    size_t n = strlen(h->link);
    memcpy(blk + 157, h->link, n < 100 ? n : 100);
  }
  memcpy(blk + 257, "ustar\0" "00", 8);
  if (h->type == '3' || h->type == '4') {
    put_octal(blk + 329, 8, h->devmajor);
    put_octal(blk + 337, 8, h->devminor);
  }
  memset(blk + 148, ' ', 8);
  put_octal(blk + 148, 7, block_sum(blk)); /* six digits, NUL, and the space left in place */
  out_write(blk, sizeof blk);
}

static size_t ndigits(size_t v) {
  size_t d = 1;
  while (v >= 10) {
    v /= 10;
    d++;
  }
  return d;
}

size_t pax_add(struct sbuf *records, const char *key, const void *value, size_t vlen) {
  /* The length counts itself: find the digit count that is stable. */
  size_t base = strlen(key) + vlen + 3; /* ' ', '=', '\n' */
  size_t len = base + ndigits(base);
  if (ndigits(len) != ndigits(base)) len = base + ndigits(len);
  char num[32];
  int n = sprintf(num, "%zu ", len);
  sb_add(records, num, (size_t)n);
  sb_addstr(records, key);
  sb_addc(records, '=');
  size_t at = records->len;
  sb_add(records, value, vlen);
  sb_addc(records, '\n');
  return at;
}

size_t pax_add_str(struct sbuf *records, const char *key, const char *value) {
  return pax_add(records, key, value, strlen(value));
}

void pax_add_u64(struct sbuf *records, const char *key, uint64_t v) {
  char num[32];
  int n = sprintf(num, "%" PRIu64, v);
  pax_add(records, key, num, (size_t)n);
}

void pax_add_time(struct sbuf *records, const char *key, int64_t s, uint32_t ns) {
  char t[48];
  int n = fmt_time_decimal(t, s, ns);
  pax_add(records, key, t, (size_t)n);
}

void tar_pad(uint64_t size) {
  size_t rem = (size_t)(size % 512);
  if (rem) out_zeros(512 - rem);
}

size_t tar_pax(const char *path, int64_t mtime, const struct sbuf *records) {
  char name[101];
  snprintf(name, sizeof name, "PaxHeaders/%s", base_name(path));
  size_t total = 512 + records->len + 511;
  if (g_out.cap - g_out.len < total && total <= g_out.cap) out_flush();
  struct ustar h = {.name = name, .mode = 0644, .size = records->len, .mtime = mtime, .type = 'x'};
  tar_header(&h);
  size_t at = g_out.len;
  uint64_t flushes = g_out.flushes;
  out_write(records->p, records->len);
  if (g_out.flushes != flushes) at = SIZE_MAX;
  tar_pad(records->len);
  return at;
}

void tar_end(void) { out_zeros(1024); }
