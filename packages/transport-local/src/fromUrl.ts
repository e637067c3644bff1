import { fileURLToPath } from 'node:url'
import { messageOf, type Transport, TransshipError } from '@transship/core'
import { DRIVER_NAME } from './errors.js'
import { createLocalTransport } from './localTransport.js'

/**
 * A local transport from a `file:` URL naming an absolute directory: `file:///srv/staging`
 * or `file:/srv/staging` (percent-encoded, as URLs are).
 *
 * ## Example
 * ```ts
 * const transport = localTransportFromUrl('file:///srv/staging')
 * ```
 *
 * @param url - a `file:` URL without host (or with `localhost`), query or fragment.
 * @return the transport, as {@link createLocalTransport} makes it.
 * @throws TransshipError `TRANSPORT_URL_INVALID` naming the URL: another scheme, a relative
 *   path, a host, a query or a fragment.
 */
export function localTransportFromUrl(url: string): Transport {
  return createLocalTransport({ base: directoryOf(url) })
}

function directoryOf(url: string): string {
  const invalid = (why: string, cause?: unknown) =>
    new TransshipError(
      'TRANSPORT_URL_INVALID',
      `[${DRIVER_NAME}] invalid URL ${JSON.stringify(url)}: ${why}`,
      { cause },
    )
  if (!/^file:/i.test(url)) throw invalid('expected a file: URL, such as file:///srv/staging')
  if (!/^file:\//i.test(url)) {
    throw invalid('the path must be absolute, as in file:///srv/staging')
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (error) {
    throw invalid(messageOf(error), error)
  }
  if (parsed.search !== '' || parsed.hash !== '') {
    throw invalid('a query or fragment is not part of a path (encode ? as %3F and # as %23)')
  }
  try {
    return fileURLToPath(parsed)
  } catch (error) {
    throw invalid(messageOf(error), error)
  }
}
