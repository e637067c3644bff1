import { createHash } from 'node:crypto'
import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { hasCode } from './errors.js'
import { tempPathFor } from './tempFiles.js'

/** What {@link writeAtomically} wrote. */
export interface WrittenFile {
  readonly size: number
  /** Computed only when asked for: hashing costs as much as the write itself. */
  readonly sha256?: string
  readonly modified: Date
}

/** Options of {@link writeAtomically}. */
export interface AtomicWriteOptions {
  /** Stops the write; the file is then not created. */
  readonly signal?: AbortSignal
  /** Compute the sha256 of what is written (for a caller that has one to check). */
  readonly sha256: boolean
  /** Called once the body is written and synced, before the rename; throws to refuse it. */
  readonly verify: (written: WrittenFile) => void
}

/**
 * Writes `body` to a temporary file next to `path` (mode 0600; missing directories are
 * created with mode 0700), syncs it, and renames it to `path` once `verify` accepts it.
 * On any failure the temporary file is removed: `path` either keeps what it held or holds
 * the whole new content.
 *
 * @return the size, modification time and (when asked for) sha256 of what was written.
 * @throws the body's error, an `AbortError`, what `verify` throws, or a file system error.
 */
export async function writeAtomically(
  path: string,
  body: Readable,
  { signal, verify, sha256 }: AtomicWriteOptions,
): Promise<WrittenFile> {
  const temp = tempPathFor(path)
  const file = await createTemp(temp)
  try {
    const written = await writeAndSync(file, body, signal, sha256)
    verify(written)
    signal?.throwIfAborted()
    await rename(temp, path)
    return written
  } catch (error) {
    await file.close()
    await rm(temp, { force: true })
    throw error
  }
}

/**
 * Creates the file and its missing directories. A concurrent `remove` may prune a directory
 * between `mkdir` and `open`: that is retried.
 */
async function createTemp(temp: string): Promise<FileHandle> {
  for (let attempt = 1; ; attempt++) {
    await mkdir(dirname(temp), { recursive: true, mode: 0o700 })
    try {
      return await open(temp, 'wx', 0o600)
    } catch (error) {
      if (attempt === 3 || !hasCode(error, 'ENOENT')) throw error
    }
  }
}

async function writeAndSync(
  file: FileHandle,
  body: Readable,
  signal: AbortSignal | undefined,
  sha256: boolean,
): Promise<WrittenFile> {
  const hash = sha256 ? createHash('sha256') : undefined
  let size = 0
  await pipeline(
    body,
    // Bodies made with Readable.from(['text']) yield strings: they are stored as UTF-8.
    async (chunks: AsyncIterable<Uint8Array | string>) => {
      for await (const chunk of chunks) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
        hash?.update(bytes)
        size += bytes.length
        await writeAll(file, bytes)
      }
    },
    { signal },
  )
  await file.sync()
  const { mtime } = await file.stat()
  await file.close()
  return { size, modified: mtime, ...(hash ? { sha256: hash.digest('hex') } : {}) }
}

async function writeAll(file: FileHandle, chunk: Uint8Array): Promise<void> {
  for (let offset = 0; offset < chunk.length; ) {
    offset += (await file.write(chunk, offset)).bytesWritten
  }
}
