import { posix } from 'node:path'
import type { Readable } from 'node:stream'
import type { Stats } from 'ssh2'
import { BodyChunks } from './bodyChunks.js'
import { hasSftpStatus, RemoteError, SFTP_STATUS } from './errors.js'
import type { RemoteFile, RemoteFs, RemoteStat } from './remoteFs.js'
import { type Sftp, sessionEnded } from './sftp.js'
import { PipelinedReadStream } from './sftpRead.js'
import { type PipelineShape, writePipelined } from './sftpWrite.js'

/** How {@link sftpFs} transfers files. */
export interface SftpFsOptions extends PipelineShape {
  /** fsync each written file before it is renamed into place (`fsync@openssh.com`). */
  readonly fsync: boolean
}

/**
 * The remote file operations over one SFTP session: data goes in pipelined read and write
 * requests; renames replace atomically (`posix-rename@openssh.com`).
 *
 * @param sftp - the SFTP session; {@link RemoteFs.close} ends it.
 * @param options - request size and count, fsync.
 */
export function sftpFs(sftp: Sftp, options: SftpFsOptions): RemoteFs {
  return {
    protocol: 'sftp',

    ended: sftp.ended,

    home: () => sftp.realpath('.'),

    async stat(path) {
      const info = await sftp.stat(path)
      return info && statOf(info)
    },

    async listFiles(path) {
      const found: RemoteFile[] = []
      await walk(sftp, path, '', [], found)
      return found
    },

    async writeFile(path, body, hash) {
      const chunks = new BodyChunks(body, hash)
      const handle = await createExclusive(sftp, path)
      const stop = stopBodyWhenEnded(sftp, body)
      try {
        const size = await writePipelined(sftp, handle, chunks, options).finally(stop)
        const modified = await finishWrite(sftp, handle, size, options.fsync)
        return { size, sha256: chunks.sha256(), modified }
      } catch (error) {
        await sftp.close(handle).catch(() => {})
        throw await explainWriteFailure(sftp, path, error, options)
      }
    },

    rename: (from, to) => sftp.rename(from, to),

    async unlink(path) {
      await sftp.unlink(path).catch((error: unknown) => {
        if (!hasSftpStatus(error, SFTP_STATUS.NO_SUCH_FILE)) throw error
      })
    },

    async read(path, failure): Promise<Readable | undefined> {
      let handle: Buffer
      try {
        handle = await sftp.open(path, 'r')
      } catch (error) {
        if (hasSftpStatus(error, SFTP_STATUS.NO_SUCH_FILE)) return undefined
        throw error
      }
      try {
        const info = await sftp.fstat(handle)
        if (info.isFile()) return new PipelinedReadStream(sftp, handle, info.size, options, failure)
      } catch (error) {
        await sftp.close(handle).catch(() => {})
        throw error
      }
      await sftp.close(handle)
      return undefined
    },

    async removeTree(path, stopAt) {
      await removeRecursively(sftp, path)
      for (
        let parent = posix.dirname(path);
        parent !== stopAt && parent.startsWith(`${stopAt}/`);
        parent = posix.dirname(parent)
      ) {
        try {
          await sftp.rmdir(parent)
        } catch (error) {
          // Not empty (OpenSSH says only "Failure"), or removed meanwhile.
          if (hasSftpStatus(error, SFTP_STATUS.FAILURE, SFTP_STATUS.NO_SUCH_FILE)) return
          throw error
        }
      }
    },

    close: () => sftp.end(),
  }
}

function statOf(info: Stats): RemoteStat {
  const kind = info.isFile() ? 'file' : info.isDirectory() ? 'directory' : 'other'
  return { kind, size: info.size, modified: dateOf(info.mtime) }
}

function dateOf(seconds: number): Date {
  return new Date(seconds * 1000)
}

/**
 * Creates the file `path` exclusively, mode 0600, and its missing directories, mode 0700.
 * A concurrent removal may prune a directory between the two: that is retried.
 *
 * @return a handle open for writing.
 */
export async function createExclusive(sftp: Sftp, path: string): Promise<Buffer> {
  for (let attempt = 1; ; attempt++) {
    await ensureDirectory(sftp, posix.dirname(path))
    try {
      return await sftp.open(path, 'wx', { mode: 0o600 })
    } catch (error) {
      if (attempt === 3 || !hasSftpStatus(error, SFTP_STATUS.NO_SUCH_FILE)) throw error
    }
  }
}

/**
 * Ends a write: syncs the file (when asked), checks that it holds `size` bytes, and closes
 * the handle.
 *
 * @return the file's modification time.
 * @throws RemoteError when the file holds another size: something else wrote to it.
 */
export async function finishWrite(
  sftp: Sftp,
  handle: Buffer,
  size: number,
  fsync: boolean,
): Promise<Date> {
  if (fsync) await sftp.fsync(handle)
  const written = await sftp.fstat(handle)
  await sftp.close(handle)
  if (written.size !== size) {
    throw new RemoteError(
      `the file holds ${written.size} bytes after ${size} were written: something else wrote to it`,
    )
  }
  return dateOf(written.mtime)
}

/**
 * Destroys `body` if the SFTP channel ends while it is being written (the writer may be
 * waiting for the body, not for the server), until the returned function is called.
 */
export function stopBodyWhenEnded(sftp: Sftp, body: Readable): () => void {
  let writing = true
  sftp.ended.then(() => {
    if (writing) body.destroy(sessionEnded())
  })
  return () => {
    writing = false
  }
}

async function ensureDirectory(sftp: Sftp, directory: string): Promise<void> {
  const existing = await sftp.stat(directory)
  if (existing?.isDirectory()) return
  if (existing) throw new RemoteError(`${directory} is not a directory`)
  const parent = posix.dirname(directory)
  if (parent !== directory) await ensureDirectory(sftp, parent)
  try {
    await sftp.mkdir(directory, { mode: 0o700 })
  } catch (error) {
    // Made meanwhile by a concurrent put: fine.
    if ((await sftp.stat(directory).catch(() => undefined))?.isDirectory()) return
    throw error
  }
}

/**
 * OpenSSH's SFTP server answers a write to a full file system with a bare "Failure": ask
 * the server how much room is left, and say so when there is next to none.
 */
export async function explainWriteFailure(
  sftp: Sftp,
  path: string,
  error: unknown,
  { chunkSize, depth }: PipelineShape,
): Promise<unknown> {
  if (!hasSftpStatus(error, SFTP_STATUS.FAILURE)) return error
  const directory = posix.dirname(path)
  const room = await sftp.statvfs(directory).catch(() => undefined)
  if (room === undefined) return error
  const free = room.bavail * room.frsize
  if (free >= chunkSize * depth) return error
  return new RemoteError(
    `no space left on the device: the file system holding ${directory} has ${free} bytes free`,
    { cause: error },
  )
}

/** The regular files under `directory`, symlinks followed, refusing symlink loops. */
async function walk(
  sftp: Sftp,
  directory: string,
  relative: string,
  ancestors: string[],
  found: RemoteFile[],
): Promise<void> {
  let entries: Awaited<ReturnType<Sftp['readdir']>>
  try {
    entries = await sftp.readdir(directory)
  } catch (error) {
    // Removed meanwhile: nothing below it.
    if (hasSftpStatus(error, SFTP_STATUS.NO_SUCH_FILE)) return
    throw error
  }
  const real = await sftp.realpath(directory)
  if (ancestors.includes(real)) {
    throw new RemoteError(`a symlink loops back to ${real} under ${directory}`)
  }
  ancestors.push(real)
  for (const entry of entries) {
    if (entry.filename === '.' || entry.filename === '..') continue
    const path = `${directory}/${entry.filename}`
    const key = relative === '' ? entry.filename : `${relative}/${entry.filename}`
    const info = entry.attrs.isSymbolicLink() ? await sftp.stat(path) : entry.attrs
    if (info?.isFile()) {
      found.push({ path: key, size: info.size, modified: dateOf(info.mtime) })
    } else if (info?.isDirectory()) {
      await walk(sftp, path, key, ancestors, found)
    }
  }
  ancestors.pop()
}

async function removeRecursively(sftp: Sftp, path: string): Promise<void> {
  const info = await sftp.lstat(path)
  if (info === undefined) return
  if (!info.isDirectory()) {
    await sftp.unlink(path).catch((error: unknown) => {
      if (!hasSftpStatus(error, SFTP_STATUS.NO_SUCH_FILE)) throw error
    })
    return
  }
  const entries = await sftp.readdir(path).catch((error: unknown) => {
    if (hasSftpStatus(error, SFTP_STATUS.NO_SUCH_FILE)) return []
    throw error
  })
  for (const entry of entries) {
    if (entry.filename === '.' || entry.filename === '..') continue
    await removeRecursively(sftp, `${path}/${entry.filename}`)
  }
  await sftp.rmdir(path).catch((error: unknown) => {
    if (!hasSftpStatus(error, SFTP_STATUS.NO_SUCH_FILE)) throw error
  })
}
