import { messageOf, TransshipError } from '@transship/core'

/** The transport's name: `Transport.name`, and the tag in its errors (`[transship] [s3] …`). */
export const DRIVER_NAME = 's3'

/** What the SDK attaches to the errors it throws for a service's answer. */
interface ServiceErrorFields {
  readonly name?: string
  readonly $metadata?: { readonly httpStatusCode?: number }
}

/** The HTTP status of an SDK error, when the server answered. */
export function httpStatusOf(error: unknown): number | undefined {
  return (error as ServiceErrorFields | undefined)?.$metadata?.httpStatusCode
}

/** The S3 error code (`NoSuchKey`, `SlowDown`, …) or Node.js error name of an SDK error. */
export function errorNameOf(error: unknown): string | undefined {
  return (error as ServiceErrorFields | undefined)?.name
}

/** Whether an SDK error says that the key (not the bucket) holds nothing. */
export function isNoSuchKey(error: unknown): boolean {
  const name = errorNameOf(error)
  return name === 'NoSuchKey' || (name === 'NotFound' && httpStatusOf(error) === 404)
}

/**
 * What an SDK failure was, for a message: the error's own message, with its S3 code and HTTP
 * status when they add something (`UnknownError` from a body-less answer says nothing).
 */
export function describeFailure(error: unknown): string {
  const message = messageOf(error)
  const name = errorNameOf(error)
  const status = httpStatusOf(error)
  const parts = [message]
  if (name && name !== 'Error' && name !== 'UnknownError' && !message.includes(name)) {
    parts.unshift(`${name}:`)
  }
  if (status !== undefined) parts.push(`(HTTP ${status})`)
  return parts.join(' ')
}

/**
 * `error` itself when it is already a {@link TransshipError}, else a `TRANSPORT_IO` error
 * naming what failed and where, with `error` as its cause.
 *
 * @param action - what was attempted: `put`, `get`, …
 * @param key - the transport key (or prefix) concerned.
 * @param location - the object's `s3://bucket/key` URL.
 */
export function ioError(
  action: string,
  key: string,
  location: string,
  error: unknown,
): TransshipError {
  if (error instanceof TransshipError) return error
  return new TransshipError(
    'TRANSPORT_IO',
    `[${DRIVER_NAME}] cannot ${action} ${JSON.stringify(key)} at ${location}: ${describeFailure(error)}`,
    { cause: error },
  )
}

/** `url` with any `user:password@` replaced by `REDACTED@`, for messages. */
export function redactUserinfo(url: string): string {
  return url.replace(/^([a-z0-9+.-]+:\/\/)[^/?#]*@/i, '$1REDACTED@')
}

/** A `TRANSPORT_OPTIONS_INVALID` error. */
export function optionsError(message: string, cause?: unknown): TransshipError {
  return new TransshipError('TRANSPORT_OPTIONS_INVALID', `[${DRIVER_NAME}] ${message}`, { cause })
}
