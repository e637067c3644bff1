import { rm, rmdir, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { hasCode } from './errors.js'

/**
 * Removes the directory `path` with everything in it, then the directories above it that
 * this left empty, up to (not including) `base`. Nothing happens when `path` is missing
 * or is a file: a file is not under its own key.
 */
export async function removeTree(base: string, path: string): Promise<void> {
  const info = await stat(path).catch((error: unknown) => {
    if (hasCode(error, 'ENOENT', 'ENOTDIR')) return undefined
    throw error
  })
  if (!info?.isDirectory()) return
  await rm(path, { recursive: true, force: true })
  for (let parent = dirname(path); parent !== base; parent = dirname(parent)) {
    try {
      await rmdir(parent)
    } catch (error) {
      if (hasCode(error, 'ENOTEMPTY', 'EEXIST', 'ENOENT')) return
      throw error
    }
  }
}
