import type { Dirent } from 'node:fs'
import { readdir, realpath, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { type ArtifactStat, TransshipError } from '@transship/core'
import { DRIVER_NAME, hasCode } from './errors.js'
import { assertInsideBase } from './keyPath.js'
import { isTempName } from './tempFiles.js'

/**
 * Every file under `directory`, as artifacts keyed `<prefix>/<relative path>`, sorted by
 * key; temporary files are left out. Symlinks are followed when they stay inside `base`.
 *
 * @param base - the transport's base directory.
 * @param directory - where to start: `base`, or a directory below it.
 * @param prefix - the key of `directory` (`''` for `base`).
 * @throws TransshipError `TRANSPORT_INVALID_KEY` for a symlink that leads out of `base`,
 *   `TRANSPORT_IO` for a symlink loop; file system errors as they are.
 */
export async function listFiles(
  base: string,
  directory: string,
  prefix: string,
): Promise<ArtifactStat[]> {
  const found: ArtifactStat[] = []
  const real = await realpath(directory).catch((error: unknown) => {
    if (hasCode(error, 'ENOENT', 'ENOTDIR')) return undefined
    throw error
  })
  if (real !== undefined) await walk({ base, found, ancestors: [real] }, directory, prefix)
  return found.sort((one, other) => (one.key < other.key ? -1 : one.key > other.key ? 1 : 0))
}

interface Walk {
  readonly base: string
  readonly found: ArtifactStat[]
  /** The real paths of the directories being walked, outermost first: a loop guard. */
  readonly ancestors: string[]
}

async function walk(state: Walk, directory: string, prefix: string): Promise<void> {
  let entries: Dirent[]
  try {
    entries = await readdir(directory, { withFileTypes: true })
  } catch (error) {
    if (hasCode(error, 'ENOENT', 'ENOTDIR')) return
    throw error
  }
  for (const entry of entries) {
    if (entry.isFile() && isTempName(entry.name)) continue
    const path = join(directory, entry.name)
    const key = prefix === '' ? entry.name : `${prefix}/${entry.name}`
    if (entry.isSymbolicLink()) await assertInsideBase(state.base, key, path)
    await visit(state, path, key)
  }
}

/**
 * Adds the file, or walks the directory, that `path` is or leads to through a symlink; other
 * kinds of file (FIFOs, sockets, …) are not artifacts. A file removed meanwhile is skipped.
 */
async function visit(state: Walk, path: string, key: string): Promise<void> {
  const info = await stat(path).catch((error: unknown) => {
    if (hasCode(error, 'ENOENT')) return undefined
    throw error
  })
  if (info?.isFile()) {
    state.found.push({ key, size: info.size, modified: info.mtime })
  } else if (info?.isDirectory()) {
    const real = await realpath(path)
    if (state.ancestors.includes(real)) {
      throw new TransshipError(
        'TRANSPORT_IO',
        `[${DRIVER_NAME}] cannot list ${JSON.stringify(key)} at ${path}: a symlink loops back to ${real}`,
      )
    }
    state.ancestors.push(real)
    await walk(state, path, key)
    state.ancestors.pop()
  }
}
