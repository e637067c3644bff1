import { spawn } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import {
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'

/** What a directory tree holds, to size throughput and check copies. */
export interface TreeSummary {
  readonly files: number
  readonly directories: number
  /** Bytes of file content (what MB/s is computed from). */
  readonly bytes: number
}

/**
 * Fills a directory with `count` files of random (incompressible) bytes, `total` bytes in
 * all, written by `head -c` from /dev/urandom, two at a time.
 *
 * @param signal - aborts between files.
 */
export async function writeLargeFiles(
  dir: string,
  total: number,
  count: number,
  signal: AbortSignal,
): Promise<void> {
  const sizes = Array.from({ length: count }, (_, index) =>
    index < count - 1 ? Math.floor(total / count) : total - Math.floor(total / count) * (count - 1),
  )
  let next = 0
  const worker = async () => {
    for (let index = next++; index < count; index = next++) {
      signal.throwIfAborted()
      await urandomInto(join(dir, `large-${index}.bin`), sizes[index] ?? 0, signal)
    }
  }
  await Promise.all([worker(), worker()])
}

function urandomInto(path: string, bytes: number, signal: AbortSignal): Promise<void> {
  const fd = openSync(path, 'w')
  return new Promise<void>((resolve, reject) => {
    const child = spawn('head', ['-c', String(bytes), '/dev/urandom'], {
      stdio: ['ignore', fd, 'inherit'],
      signal,
    })
    child.once('error', reject)
    child.once('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`head -c ${bytes} /dev/urandom > ${path}: ${code}`)),
    )
  }).finally(() => closeSync(fd))
}

/** Files per leaf directory of {@link writeSmallFiles}, and leaf directories per parent. */
const FILES_PER_DIR = 100
const DIRS_PER_PARENT = 10
const MAX_SMALL_FILE = 8192

/** What files hold: random bytes (incompressible), or log-like text (compressible). */
export type Content = 'random' | 'text'

/**
 * Fills a buffer with log-like text lines, as a service's logs or a database's dump are:
 * numbers from a seeded generator, so that every run writes the same text. zstd's default
 * level makes it about a tenth of its size.
 */
export function fillText(buffer: Buffer, random: () => number = mulberry32(0x10c)): Buffer {
  let at = 0
  while (at < buffer.length) {
    const n = Math.floor(random() * 1e6)
    const line = `2026-12-03T12:${String(n % 60).padStart(2, '0')}:${String(n % 59).padStart(2, '0')}.${n % 1000}Z INFO request id=${n} path=/api/items/${n % 997} status=${n % 7 === 0 ? 404 : 200} ms=${n % 89}\n`
    at += buffer.write(line, at)
  }
  return buffer
}

/**
 * Fills a directory with `count` files of log-like text ({@link fillText}), `total` bytes
 * in all.
 *
 * @param signal - aborts between pieces.
 */
export function writeTextFiles(dir: string, total: number, count: number, signal: AbortSignal) {
  const piece = Buffer.alloc(4 * 1024 * 1024)
  const random = mulberry32(0x7e47)
  for (let index = 0; index < count; index++) {
    const size =
      index < count - 1
        ? Math.floor(total / count)
        : total - Math.floor(total / count) * (count - 1)
    const fd = openSync(join(dir, `text-${index}.log`), 'w')
    try {
      for (let written = 0; written < size; written += piece.length) {
        signal.throwIfAborted()
        writeSync(fd, fillText(piece, random), 0, Math.min(piece.length, size - written))
      }
    } finally {
      closeSync(fd)
    }
  }
}

/**
 * Fills a directory with `count` small files, 1 to 8192 bytes each (sizes from a fixed
 * seed, so every run makes the same tree), of random bytes (incompressible) or log-like
 * text, 100 per directory, 10 directories per parent: `p000/d0000/f000000.dat`.
 *
 * @param signal - aborts between directories.
 * @param content - what the files hold (default random).
 */
export function writeSmallFiles(
  dir: string,
  count: number,
  signal: AbortSignal,
  content: Content = 'random',
): void {
  const buffer = Buffer.alloc(MAX_SMALL_FILE)
  const random = mulberry32(0x7a5c0de)
  for (let file = 0; file < count; file++) {
    const leaf = Math.floor(file / FILES_PER_DIR)
    const parent = Math.floor(leaf / DIRS_PER_PARENT)
    const leafDir = join(
      dir,
      `p${String(parent).padStart(3, '0')}`,
      `d${String(leaf).padStart(4, '0')}`,
    )
    if (file % FILES_PER_DIR === 0) {
      signal.throwIfAborted()
      mkdirSync(leafDir, { recursive: true })
    }
    const size = 1 + Math.floor(random() * MAX_SMALL_FILE)
    const bytes = buffer.subarray(0, size)
    const filled = content === 'random' ? randomFillSync(bytes) : fillText(bytes, random)
    writeFileSync(join(leafDir, `f${String(file).padStart(6, '0')}.dat`), filled)
  }
}

/** Counts a tree's files, directories and content bytes (not following symlinks). */
export function summarizeTree(dir: string): TreeSummary {
  let files = 0
  let directories = 0
  let bytes = 0
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const child = join(path, entry.name)
      if (entry.isDirectory()) {
        directories += 1
        walk(child)
      } else {
        files += 1
        bytes += lstatSync(child).size
      }
    }
  }
  walk(dir)
  return { files, directories, bytes }
}

function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
