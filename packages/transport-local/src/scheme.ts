import type { TransportScheme } from '@transship/core'
import { localTransportFromUrl } from './fromUrl.js'

/** The URL scheme this package registers: `file:///dir`, a local staging directory. */
export const transportSchemes: readonly TransportScheme[] = [
  { scheme: 'file', example: 'file:///dir', open: (url) => localTransportFromUrl(url) },
]
