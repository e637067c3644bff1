import { assertSafePrefix, messageOf, TransshipError } from '@transship/core'
import { DRIVER_NAME, redactUserinfo } from './errors.js'

/** A bucket and a key prefix, as an `s3://` URL names them. */
export interface S3Location {
  readonly bucket: string
  /** Without leading or trailing `/`; `''` for the bucket's root. */
  readonly prefix: string
}

/**
 * The `s3://bucket/prefix` URL of a bucket and prefix, each prefix segment
 * percent-encoded: what {@link parseS3Url} reads back.
 *
 * ## Example
 * ```ts
 * s3Url('backups', 'transship/web 1') // 's3://backups/transship/web%201'
 * ```
 *
 * @param bucket - the bucket.
 * @param prefix - a `/`-separated prefix without leading or trailing `/`; `''` for none.
 * @return the URL, without a trailing `/`.
 */
export function s3Url(bucket: string, prefix: string): string {
  const path = prefix === '' ? '' : `/${prefix.split('/').map(encodeURIComponent).join('/')}`
  return `s3://${bucket}${path}`
}

/**
 * Reads `s3://bucket`, `s3://bucket/` or `s3://bucket/some/prefix` (percent-encoded, as URLs
 * are; a trailing `/` is dropped).
 *
 * ## Example
 * ```ts
 * parseS3Url('s3://backups/transship/web-1') // { bucket: 'backups', prefix: 'transship/web-1' }
 * ```
 *
 * @param url - the URL.
 * @return the bucket and prefix.
 * @throws TransshipError `TRANSPORT_URL_INVALID` naming the URL: another scheme, no bucket,
 *   credentials, a port, a query or fragment, a prefix with `.`, `..` or empty segments.
 */
export function parseS3Url(url: string): S3Location {
  // Credentials in the URL are refused, and never repeated in the message.
  const shown = redactUserinfo(url)
  const invalid = (why: string, cause?: unknown) =>
    new TransshipError(
      'TRANSPORT_URL_INVALID',
      `[${DRIVER_NAME}] invalid URL ${JSON.stringify(shown)}: ${why}`,
      { cause },
    )
  if (!/^s3:\/\//i.test(url)) throw invalid('expected an s3:// URL, such as s3://bucket/prefix')
  if (shown !== url) {
    throw invalid(
      'credentials do not belong in the URL: they come from the environment, a profile or a role',
    )
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (error) {
    throw invalid(messageOf(error), error)
  }
  if (parsed.port !== '') {
    throw invalid('the bucket takes no port: give the endpoint separately (AWS_ENDPOINT_URL_S3)')
  }
  if (parsed.search !== '' || parsed.hash !== '') {
    throw invalid('a query or fragment is not part of a prefix (encode ? as %3F and # as %23)')
  }
  const bucket = decodeURIComponent(parsed.hostname)
  if (bucket === '') throw invalid('no bucket, as in s3://bucket/prefix')
  const raw = parsed.pathname.replace(/^\//, '').replace(/\/$/, '')
  let segments: string[]
  try {
    segments = raw === '' ? [] : raw.split('/').map(decodeURIComponent)
  } catch (error) {
    throw invalid(messageOf(error), error)
  }
  const prefix = segments.join('/')
  try {
    if (segments.some((segment) => segment.includes('/'))) throw new Error('a segment holds /')
    assertSafePrefix(prefix, DRIVER_NAME)
  } catch (error) {
    throw invalid("the prefix must be a path without '.', '..' or empty segments", error)
  }
  return { bucket, prefix }
}
