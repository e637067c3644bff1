import { lstat, realpath } from 'node:fs/promises'
import { dirname, isAbsolute, join, relative, sep } from 'node:path'
import { assertSafeKey, assertSafePrefix, TransshipError } from '@transship/core'
import { DRIVER_NAME, hasCode } from './errors.js'
import { isTempName } from './tempFiles.js'

/**
 * The path of an artifact's key under `base`, after checking the key: a safe relative key
 * (see `assertSafeKey`) whose last segment is not the name of a temporary file.
 *
 * @throws TransshipError `TRANSPORT_INVALID_KEY`.
 */
export function artifactPath(base: string, key: string): string {
  assertSafeKey(key, DRIVER_NAME)
  assertNotTempName(key)
  return join(base, ...key.split('/'))
}

/**
 * A listing or removal prefix without its trailing `/`, and the path it names under `base`
 * (`base` itself for the empty prefix).
 *
 * @throws TransshipError `TRANSPORT_INVALID_KEY`, as {@link artifactPath}.
 */
export function prefixPath(base: string, prefix: string): { key: string; path: string } {
  assertSafePrefix(prefix, DRIVER_NAME)
  const key = prefix.replace(/\/$/, '')
  if (key === '') return { key, path: base }
  assertNotTempName(key)
  return { key, path: join(base, ...key.split('/')) }
}

/** Temporary files are not artifacts: keys that would name one are refused. */
function assertNotTempName(key: string): void {
  if (isTempName(key.slice(key.lastIndexOf('/') + 1))) {
    throw new TransshipError(
      'TRANSPORT_INVALID_KEY',
      `[${DRIVER_NAME}] invalid key ${JSON.stringify(key)}: its last segment has the form of a temporary file (.<name>.partial-<hex>)`,
    )
  }
}

/**
 * Checks that `path` (made from `key` under `base`) does not lead out of `base` through a
 * symlink: the deepest part of it that exists must resolve inside `base`'s real path, and
 * must not be a dangling symlink.
 *
 * @throws TransshipError `TRANSPORT_INVALID_KEY` naming the key, the path and where it leads.
 */
export async function assertInsideBase(base: string, key: string, path: string): Promise<void> {
  for (let existing = path; existing !== base; existing = dirname(existing)) {
    const real = await realpathIfExists(existing)
    if (real === undefined) {
      if (await isSymlink(existing)) throw refusal(key, path, `${existing} is a dangling symlink`)
      continue
    }
    const realBase = await realpath(base)
    if (!isWithin(realBase, real)) {
      throw refusal(
        key,
        path,
        `it leads through a symlink to ${real}, outside the base ${realBase}`,
      )
    }
    return
  }
}

function refusal(key: string, path: string, why: string): TransshipError {
  return new TransshipError(
    'TRANSPORT_INVALID_KEY',
    `[${DRIVER_NAME}] refusing key ${JSON.stringify(key)} at ${path}: ${why}`,
  )
}

async function realpathIfExists(path: string): Promise<string | undefined> {
  try {
    return await realpath(path)
  } catch (error) {
    if (hasCode(error, 'ENOENT', 'ENOTDIR')) return undefined
    throw error
  }
}

async function isSymlink(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isSymbolicLink()
  } catch (error) {
    if (hasCode(error, 'ENOENT', 'ENOTDIR')) return false
    throw error
  }
}

/** Whether `path` is `directory` or below it. */
function isWithin(directory: string, path: string): boolean {
  const rest = relative(directory, path)
  return rest !== '..' && !rest.startsWith(`..${sep}`) && !isAbsolute(rest)
}
