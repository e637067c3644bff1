import type { S3TransportOptions } from './options.js'
import { createS3Transport, type S3Transport } from './s3Transport.js'
import { parseS3Url } from './url.js'

/** {@link S3TransportOptions} without what the URL gives: the bucket and the prefix. */
export type S3UrlOptions = S3TransportOptions extends infer Option
  ? Option extends S3TransportOptions
    ? Omit<Option, 'bucket' | 'prefix'>
    : never
  : never

/**
 * An S3 transport from an `s3://bucket/prefix` URL (percent-encoded; the prefix may be
 * empty). The endpoint, region and credentials come from `options` or, as for the AWS CLI,
 * from the environment and the shared config files: the URL holds no secret.
 *
 * ## Example
 * ```ts
 * // AWS_ENDPOINT_URL_S3=http://127.0.0.1:4569 for an S3-compatible server
 * const transport = s3TransportFromUrl('s3://backups/transship')
 * ```
 *
 * @param url - an `s3://` URL without credentials, port, query or fragment.
 * @param options - everything but the bucket and prefix, as for {@link createS3Transport}.
 * @return the transport, whose `url` is `url` normalised (no trailing `/`).
 * @throws TransshipError `TRANSPORT_URL_INVALID` naming the URL; `TRANSPORT_OPTIONS_INVALID`.
 */
export function s3TransportFromUrl(url: string, options: S3UrlOptions = {}): S3Transport {
  const { bucket, prefix } = parseS3Url(url)
  return createS3Transport({ ...options, bucket, prefix } as S3TransportOptions)
}
