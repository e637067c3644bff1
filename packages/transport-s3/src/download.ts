import { Readable } from 'node:stream'
import { setTimeout as delay } from 'node:timers/promises'
import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3'
import createDebug from 'debug'
import { describeFailure } from './errors.js'

const debug = createDebug('transship:s3')

/** What a download reads from. */
export interface DownloadSource {
  readonly client: S3Client
  readonly bucket: string
  readonly objectKey: string
  /** `s3://bucket/objectKey`, for messages. */
  readonly location: string
  /** Attempts to resume after the body breaks off, in a row without progress. */
  readonly maxAttempts: number
  /** Turns the failure that ends the stream into the error it emits. */
  readonly fail: (error: unknown) => Error
}

/**
 * The body of an object, opened by GetObject (whose failures the caller handles), as a
 * byte stream that reads from the socket only as fast as its consumer reads.
 *
 * When the connection breaks off or stalls mid-body (the SDK retries requests, not bodies),
 * the rest is asked for again from where it stopped (`Range`, with `If-Match` on the ETag so
 * that a replaced object is never spliced onto the old one; the ETag is compared too, for
 * servers that ignore `If-Match`), with backoff, up to `maxAttempts` times in a row. A body
 * that ends short of its Content-Length is an error, never a short artifact.
 *
 * @param source - the object.
 * @param first - the GetObject answer whose body to stream.
 * @param signal - aborts a pending resumption.
 * @return a byte stream; it errors with `source.fail` of the last failure once resumption
 *   gives up.
 */
export function objectStream(
  source: DownloadSource,
  first: GetObjectCommandOutput,
  signal: AbortSignal | undefined,
): Readable {
  const body = resumingBody(source, first, signal)
  async function* failingAs(): AsyncGenerator<Buffer> {
    try {
      yield* body
    } catch (error) {
      throw source.fail(error)
    }
  }
  return Readable.from(failingAs(), { objectMode: false })
}

async function* resumingBody(
  source: DownloadSource,
  first: GetObjectCommandOutput,
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  const { client, bucket, objectKey, location, maxAttempts } = source
  const total = first.ContentLength
  const etag = first.ETag
  let response = first
  let offset = 0
  let failures = 0
  for (;;) {
    try {
      for await (const chunk of response.Body as Readable) {
        offset += chunk.length
        failures = 0
        yield chunk
      }
      if (total === undefined || offset === total) return
      throw new Error(`the body ended after ${offset} of ${total} bytes`)
    } catch (error) {
      if (total !== undefined && offset === total && isBreak(error)) return
      failures += 1
      if (!isBreak(error) || failures >= maxAttempts || signal?.aborted) throw error
      debug(
        'get %s: %s at byte %d; resuming (%d/%d)',
        location,
        describeFailure(error),
        offset,
        failures,
        maxAttempts - 1,
      )
      await delay(backoff(failures), undefined, { signal })
      response = await client.send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: objectKey,
          Range: `bytes=${offset}-`,
          ...(etag !== undefined && { IfMatch: etag }),
        }),
        { abortSignal: signal },
      )
      if (etag !== undefined && response.ETag !== etag) {
        ;(response.Body as Readable | undefined)?.destroy()
        throw new Error(`the object changed while it was read (ETag ${response.ETag}, was ${etag})`)
      }
      const start = /^bytes (\d+)-/.exec(response.ContentRange ?? '')?.[1]
      if (Number(start) !== offset) {
        ;(response.Body as Readable | undefined)?.destroy()
        throw new Error(
          `the server answered a request for bytes ${offset}- with ${response.ContentRange ?? 'the whole object'}`,
        )
      }
    }
  }
}

/** Whether a body failed in a way that asking again can fix: a cut or stalled connection. */
function isBreak(error: unknown): boolean {
  const { code, name, message } = (error ?? {}) as {
    code?: string
    name?: string
    message?: string
  }
  return (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ETIMEDOUT' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    name === 'TimeoutError' ||
    message === 'aborted' ||
    /^the body ended after/.test(message ?? '')
  )
}

/** Exponential backoff with full jitter: up to 100 ms × 2^(failures − 1), at most 20 s. */
function backoff(failures: number): number {
  return Math.random() * Math.min(20_000, 100 * 2 ** (failures - 1))
}
