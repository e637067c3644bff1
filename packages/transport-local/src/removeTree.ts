import { rm, rmdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { hasCode } from './errors.js'

/**
 * Removes the file or directory `path` (a symlink itself, not what it leads to) with
 * everything in it, then the directories above it left empty, up to (not including)
 * `base`. A missing `path` is not an error.
 */
export async function removeTree(base: string, path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true })
  } catch (error) {
    if (hasCode(error, 'ENOTDIR')) return
    throw error
  }
  for (let parent = dirname(path); parent !== base; parent = dirname(parent)) {
    try {
      await rmdir(parent)
    } catch (error) {
      if (hasCode(error, 'ENOTEMPTY', 'EEXIST', 'ENOENT', 'ENOTDIR')) return
      throw error
    }
  }
}
