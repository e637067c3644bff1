import type { TransportScheme } from '@transship/core'
import { s3TransportFromUrl } from './fromUrl.js'

/** The URL scheme this package registers: `s3://bucket/prefix`, an S3-compatible bucket. */
export const transportSchemes: readonly TransportScheme[] = [
  {
    scheme: 's3',
    example: 's3://bucket/prefix',
    open: (url, options) => {
      // The SDK warns once per process that Node 20 will lose support; transship supports it.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
      return s3TransportFromUrl(url, options.onWarning ? { onWarning: options.onWarning } : {})
    },
  },
]
