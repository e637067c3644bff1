import { TransshipError } from '../errors.js'

/**
 * Checks that a transport key is a relative, `/`-separated path that stays under the
 * transport's base: no `..` or `.` segment, no empty segment, no leading `/`, no
 * backslash or NUL.
 *
 * ## Example
 * ```ts
 * assertSafeKey('backup-1/volumes/0.tar') // fine
 * assertSafeKey('../etc/passwd') // throws TRANSPORT_INVALID_KEY
 * ```
 *
 * @param key - the key to check.
 * @param transport - the transport's name, for the error message.
 * @throws TransshipError `TRANSPORT_INVALID_KEY`.
 */
export function assertSafeKey(key: string, transport: string): void {
  const segments = key.split('/')
  const bad =
    key.length === 0 ||
    /[\\\0]/.test(key) ||
    segments.some((segment) => segment === '' || segment === '.' || segment === '..')
  if (bad) {
    throw new TransshipError(
      'TRANSPORT_INVALID_KEY',
      `[${transport}] invalid key ${JSON.stringify(key)}: keys are relative paths without '.', '..' or empty segments`,
    )
  }
}

/**
 * Like {@link assertSafeKey}, for a listing or removal prefix: the empty prefix (everything)
 * and a trailing `/` are allowed.
 */
export function assertSafePrefix(prefix: string, transport: string): void {
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix
  if (trimmed !== '') assertSafeKey(trimmed, transport)
}
