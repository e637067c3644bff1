import { messageOf, TransshipError } from '@transship/core'
import { DRIVER_NAME } from './errors.js'

/** What an `scp://` URL names. */
export interface ScpAddress {
  /** Host name, address or `~/.ssh/config` alias. */
  readonly host: string
  readonly port?: number
  readonly username?: string
  /** Absolute (`/srv/staging`), or relative to the home directory (`~/staging`, `~`). */
  readonly path: string
}

/**
 * Reads an `scp://[user@]host[:port]/path` URL. The path is absolute: `scp://h/srv/x` is
 * `/srv/x`; `scp://h/~/x` is `x` under the user's home directory (`~/x`), `scp://h/~` the
 * home directory itself. Percent-encoded characters are decoded; IPv6 addresses go in
 * brackets.
 *
 * ## Example
 * ```ts
 * parseScpUrl('scp://root@backup:2222/srv/staging')
 * // { host: 'backup', port: 2222, username: 'root', path: '/srv/staging' }
 * ```
 *
 * @param url - the URL.
 * @return its parts.
 * @throws TransshipError `TRANSPORT_URL_INVALID` naming the URL: another scheme, a
 *   password, no host, no path or the root directory, a query or a fragment.
 */
export function parseScpUrl(url: string): ScpAddress {
  const invalid = (why: string, cause?: unknown) =>
    new TransshipError(
      'TRANSPORT_URL_INVALID',
      `[${DRIVER_NAME}] invalid URL ${JSON.stringify(url)}: ${why}`,
      { cause },
    )
  if (!/^scp:\/\//i.test(url)) {
    throw invalid('expected scp://[user@]host[:port]/path, such as scp://backup-host/srv/staging')
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (error) {
    throw invalid(messageOf(error), error)
  }
  if (parsed.password !== '') {
    throw invalid('a password does not belong in the URL: use a key or ssh-agent')
  }
  if (parsed.hostname === '') throw invalid('it names no host')
  if (parsed.search !== '' || parsed.hash !== '') {
    throw invalid('a query or fragment is not part of a path (encode ? as %3F and # as %23)')
  }
  let path: string
  try {
    path = decodeURIComponent(parsed.pathname)
  } catch (error) {
    throw invalid(messageOf(error), error)
  }
  if (path.replace(/\/+$/, '') === '') {
    throw invalid('it names no staging directory: add its absolute path, or /~/dir under home')
  }
  if (path === '/~' || path.startsWith('/~/')) path = path.slice(1)
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1')
  return {
    host,
    ...(parsed.port === '' ? {} : { port: Number(parsed.port) }),
    ...(parsed.username === '' ? {} : { username: decodeURIComponent(parsed.username) }),
    path,
  }
}

/**
 * The `scp://` URL of an address, as {@link parseScpUrl} reads it.
 *
 * @param address - host, port, user and path (absolute, or relative to home).
 * @return e.g. `scp://root@backup:2222/srv/staging`, `scp://backup/~/staging`.
 */
export function scpUrlOf(address: ScpAddress): string {
  const user = address.username === undefined ? '' : `${encodeURIComponent(address.username)}@`
  const host = address.host.includes(':') ? `[${address.host}]` : address.host
  const port = address.port === undefined ? '' : `:${address.port}`
  const trimmed = address.path.replace(/(.)\/+$/, '$1')
  const path = trimmed.startsWith('/')
    ? trimmed
    : trimmed === '~' || trimmed.startsWith('~/')
      ? `/${trimmed}`
      : `/~/${trimmed}`
  const encoded = path.split('/').map(encodeURIComponent).join('/')
  return `scp://${user}${host}${port}${encoded}`
}
