import type { Dirent } from 'node:fs'
import { readdir, realpath, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { type ArtifactStat, TransshipError } from '@transship/core'
import { DRIVER_NAME, hasCode } from './errors.js'
import { assertInsideBase } from './keyPath.js'
import { isTempName } from './tempFiles.js'

/**
 * The artifacts at and under `path`, sorted by key: the file `path` itself, or every file
 * below the directory `path`, keyed `<prefix>/<relative path>`. Temporary files are left
 * out; symlinks are followed when they stay inside `base`.
 *
 * @param base - the transport's base directory.
 * @param path - where to start: `base`, or a path below it.
 * @param prefix - the key of `path` (`''` for `base`).
 * @throws TransshipError `TRANSPORT_INVALID_KEY` for a symlink that leads out of `base`,
 *   `TRANSPORT_IO` for a symlink loop; file system errors as they are.
 */
export async function listFiles(
  base: string,
  path: string,
  prefix: string,
): Promise<ArtifactStat[]> {
  const found: ArtifactStat[] = []
  await visit({ base, found, ancestors: [] }, path, prefix)
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
 * kinds of file (FIFOs, sockets, …) are not artifacts. A path that is missing, or removed
 * meanwhile, adds nothing.
 */
async function visit(state: Walk, path: string, key: string): Promise<void> {
  const info = await stat(path).catch((error: unknown) => {
    if (hasCode(error, 'ENOENT', 'ENOTDIR')) return undefined
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
