import type { Transport } from '@transship/core'
import { createScpTransport, type ScpTransportOptions } from './scpTransport.js'
import { parseScpUrl } from './url.js'

/** Options of {@link scpTransportFromUrl}: everything but what the URL says. */
export type ScpUrlOptions = Omit<ScpTransportOptions, 'host' | 'port' | 'username' | 'path'>

/**
 * An SCP transport from an `scp://[user@]host[:port]/path` URL (see {@link parseScpUrl}).
 * The host may be a `~/.ssh/config` alias: whoever can `ssh alias` can use
 * `scp://alias/path`, with its HostName, User, Port, IdentityFile, UserKnownHostsFile and
 * ProxyJump.
 *
 * ## Example
 * ```ts
 * const transport = scpTransportFromUrl('scp://backup-host/srv/staging')
 * const home = scpTransportFromUrl('scp://me@10.0.0.7:2222/~/staging', { agent: false })
 * ```
 *
 * @param url - the URL.
 * @param options - further options: identity files, known_hosts, protocol, ….
 * @return the transport, as {@link createScpTransport} makes it.
 * @throws TransshipError `TRANSPORT_URL_INVALID` naming the URL.
 */
export function scpTransportFromUrl(url: string, options: ScpUrlOptions = {}): Transport {
  return createScpTransport({ ...options, ...parseScpUrl(url) })
}
