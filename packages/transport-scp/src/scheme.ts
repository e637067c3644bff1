import type { TransportScheme } from '@transship/core'
import { scpTransportFromUrl } from './fromUrl.js'

/** The URL scheme this package registers: `scp://[user@]host[:port]/path`, over SSH. */
export const transportSchemes: readonly TransportScheme[] = [
  {
    scheme: 'scp',
    example: 'scp://[user@]host[:port]/path',
    open: (url, options) =>
      scpTransportFromUrl(url, options.sshConfig ? { configPath: options.sshConfig } : {}),
  },
]
