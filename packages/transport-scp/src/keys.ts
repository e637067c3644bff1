import { randomBytes } from 'node:crypto'
import { posix } from 'node:path'
import { assertSafeKey, assertSafePrefix, TransshipError } from '@transship/core'
import { DRIVER_NAME } from './errors.js'

const TEMP_NAME = /^\..+\.partial-[0-9a-f]{12}$/
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * Checks an artifact key: a safe relative key (see `assertSafeKey`) without control
 * characters (a listing over exec reads file names line by line), whose last segment is not
 * the name of a temporary file.
 *
 * @throws TransshipError `TRANSPORT_INVALID_KEY`.
 */
export function checkKey(key: string): void {
  assertSafeKey(key, DRIVER_NAME)
  assertPlain(key)
}

/**
 * Checks a listing or removal prefix, and returns it without its trailing `/` (`''` for
 * everything).
 *
 * @throws TransshipError `TRANSPORT_INVALID_KEY`, as {@link checkKey}.
 */
export function checkPrefix(prefix: string): string {
  assertSafePrefix(prefix, DRIVER_NAME)
  const key = prefix.replace(/\/$/, '')
  if (key !== '') assertPlain(key)
  return key
}

function assertPlain(key: string): void {
  const invalid = (why: string) =>
    new TransshipError(
      'TRANSPORT_INVALID_KEY',
      `[${DRIVER_NAME}] invalid key ${JSON.stringify(key)}: ${why}`,
    )
  if (CONTROL.test(key)) throw invalid('keys cannot hold control characters')
  if (isTempName(key.slice(key.lastIndexOf('/') + 1))) {
    throw invalid('its last segment has the form of a temporary file (.<name>.partial-<hex>)')
  }
}

/** The remote path of `key` (a checked key, or `''` for the base itself) under `base`. */
export function remotePathOf(base: string, key: string): string {
  return key === '' ? base : posix.join(base, key)
}

/** A fresh temporary path next to `path`: `<dir>/.<name>.partial-<12 hex digits>`. */
export function tempPathFor(path: string): string {
  return posix.join(
    posix.dirname(path),
    `.${posix.basename(path)}.partial-${randomBytes(6).toString('hex')}`,
  )
}

/** Whether a file name is one {@link tempPathFor} makes. */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name)
}

/** Sorts artifacts by key, as the contract wants (UTF-16 code unit order, like `<`). */
export function byKey<T extends { readonly key: string }>(one: T, other: T): number {
  return one.key < other.key ? -1 : one.key > other.key ? 1 : 0
}
