import { addAbortSignal, type Readable } from 'node:stream'
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3'
import {
  type ArtifactExpectation,
  type ArtifactStat,
  assertSafeKey,
  assertSafePrefix,
  type Transport,
  type TransportCallOptions,
  TransshipError,
} from '@transship/core'
import createDebug from 'debug'
import { objectStream } from './download.js'
import { DRIVER_NAME, describeFailure, ioError, isNoSuchKey } from './errors.js'
import { KeyLock } from './keyLock.js'
import { deleteObjects, type ListScope, listObjects } from './listing.js'
import { clientConfig, resolveStorage, type S3TransportOptions } from './options.js'
import { uploadObject } from './upload.js'
import { s3Url } from './url.js'

const debug = createDebug('transship:s3')

/** Per-call options of {@link S3Transport.put}. */
export interface S3PutOptions extends TransportCallOptions {
  /**
   * An estimate of the artifact's size in bytes (a volume's usage, an image's size), used
   * only to size its parts; unlike `expected.size`, it is not checked.
   */
  readonly sizeHint?: number
}

/** A {@link Transport} that stores artifacts as objects in an S3 bucket. */
export interface S3Transport extends Transport {
  /** The bucket. */
  readonly bucket: string
  /** The key prefix artifacts are stored under, without leading or trailing `/`. */
  readonly prefix: string
  /**
   * Stores a stream as the object `<prefix>/<key>`; see {@link Transport.put}.
   *
   * @throws TransshipError `TRANSPORT_INTEGRITY` when `expected` is not met, `TRANSPORT_IO`
   *   for any other failure, `TRANSPORT_INVALID_KEY`.
   */
  put(
    key: string,
    body: Readable,
    expected?: ArtifactExpectation,
    options?: S3PutOptions,
  ): Promise<ArtifactStat>
}

/**
 * A transport that stages artifacts as objects in an S3-compatible bucket, under
 * `<prefix>/<key>`: for hosts that cannot reach each other but can both reach a bucket.
 *
 * A put streams its body up with bounded memory (one PutObject for a body shorter than a
 * part, a multipart upload otherwise) and commits the object only once the whole body is
 * read and matches `expected`; a failed put aborts its multipart upload. Downloads stream
 * with backpressure and resume from where a broken connection stopped. Requests are retried
 * with backoff on 5xx answers, throttling and connection failures. See the README for how
 * the endpoint, region and credentials are found.
 *
 * ## Example
 * ```ts
 * const transport = createS3Transport({ bucket: 'backups', prefix: 'transship' })
 * await transport.put('backup-1/volumes/0.tar', tarStream, { sha256 })
 * const stream = await transport.get('backup-1/volumes/0.tar')
 * // or with a client of your own:
 * createS3Transport({ client: new S3Client({ region: 'eu-west-3' }), bucket: 'backups' })
 * ```
 *
 * @param options - see {@link S3TransportOptions}.
 * @return a {@link Transport} named `s3`, whose methods throw as the contract says.
 * @throws TransshipError `TRANSPORT_OPTIONS_INVALID` for a missing bucket or an invalid
 *   option.
 */
export function createS3Transport(options: S3TransportOptions): S3Transport {
  const storage = resolveStorage(options)
  const { bucket, prefix } = storage
  const owned = options.client === undefined
  const client = options.client ?? ownClient(options, bucket, prefix)
  const commits = new KeyLock()
  const scope: ListScope = { client, bucket, location: `s3://${bucket}/` }
  const objectKey = (key: string) => (prefix === '' ? key : `${prefix}/${key}`)
  const location = (key: string) => `s3://${bucket}/${objectKey(key)}`
  const baseLength = prefix === '' ? 0 : prefix.length + 1
  const maxAttempts = async () => {
    const configured = client.config.maxAttempts
    return typeof configured === 'function' ? await configured() : 5
  }

  async function head(key: string, signal: AbortSignal | undefined) {
    try {
      const found = await client.send(
        new HeadObjectCommand({ Bucket: bucket, Key: objectKey(key) }),
        { abortSignal: signal },
      )
      return {
        key,
        size: found.ContentLength ?? 0,
        ...(found.LastModified !== undefined && { modified: found.LastModified }),
      }
    } catch (error) {
      if (isNoSuchKey(error)) return undefined
      throw error
    }
  }

  return {
    name: DRIVER_NAME,
    url: s3Url(bucket, prefix),
    bucket,
    prefix,

    async put(key, body, expected, { signal, sizeHint } = {}) {
      assertSafeKey(key, DRIVER_NAME)
      try {
        const uploaded = await uploadObject(
          { client, storage, key, objectKey: objectKey(key), location: location(key), commits },
          body,
          expected,
          sizeHint,
          signal,
        )
        return { key, size: uploaded.size }
      } catch (error) {
        throw ioError('put', key, location(key), error)
      }
    },

    async get(key, { signal } = {}) {
      assertSafeKey(key, DRIVER_NAME)
      try {
        const response = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) }),
          { abortSignal: signal },
        )
        const stream = objectStream(
          {
            client,
            bucket,
            objectKey: objectKey(key),
            location: location(key),
            maxAttempts: await maxAttempts(),
            fail: (error) => ioError('read', key, location(key), error),
          },
          response,
          signal,
        )
        return signal === undefined ? stream : addAbortSignal(signal, stream)
      } catch (error) {
        if (isNoSuchKey(error)) {
          throw new TransshipError(
            'TRANSPORT_NOT_FOUND',
            `[${DRIVER_NAME}] nothing is stored under ${JSON.stringify(key)} (${location(key)})`,
            { cause: error },
          )
        }
        throw ioError('get', key, location(key), error)
      }
    },

    async stat(key, { signal } = {}) {
      assertSafeKey(key, DRIVER_NAME)
      try {
        return await head(key, signal)
      } catch (error) {
        throw ioError('stat', key, location(key), error)
      }
    },

    async list(listPrefix, { signal } = {}) {
      assertSafePrefix(listPrefix, DRIVER_NAME)
      const trimmed = listPrefix.replace(/\/$/, '')
      const under = trimmed === '' ? (prefix === '' ? '' : `${prefix}/`) : `${objectKey(trimmed)}/`
      try {
        const own = trimmed === '' ? undefined : await head(trimmed, signal)
        const below: ArtifactStat[] = []
        for (const object of await listObjects(scope, under, signal)) {
          const key = object.key.slice(baseLength)
          if (isArtifactKey(key)) below.push({ ...object, key })
          else debug('list: %s is not an artifact key, left out', object.key)
        }
        return [...(own ? [own] : []), ...below].sort(byKey)
      } catch (error) {
        throw ioError('list', listPrefix, `s3://${bucket}/${under}`, error)
      }
    },

    async remove(removePrefix, { signal } = {}) {
      assertSafePrefix(removePrefix, DRIVER_NAME)
      const trimmed = removePrefix.replace(/\/$/, '')
      if (trimmed === '') {
        throw new TransshipError(
          'TRANSPORT_INVALID_KEY',
          `[${DRIVER_NAME}] refusing to remove the empty prefix: it would remove everything under ${s3Url(bucket, prefix)}`,
        )
      }
      try {
        // Every object below, artifact key or not, and the key itself (deleting a missing
        // key is no error).
        const below = await listObjects(scope, `${objectKey(trimmed)}/`, signal)
        await deleteObjects(scope, [objectKey(trimmed), ...below.map(({ key }) => key)], signal)
      } catch (error) {
        throw ioError('remove', removePrefix, location(trimmed), error)
      }
    },

    async close() {
      if (owned) client.destroy()
    },
  }
}

/** The transport's own client, whose attempts are logged under `transship:s3`. */
function ownClient(options: S3TransportOptions, bucket: string, prefix: string): S3Client {
  const { config, summary } = clientConfig(options)
  debug(
    'client for s3://%s/%s: endpoint %s, path-style %s, region %s, credentials from %s',
    bucket,
    prefix,
    summary.endpoint,
    summary.forcePathStyle,
    summary.region,
    summary.credentials,
  )
  const client = new S3Client(config)
  // Below the retry middleware: runs once per attempt.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args)
      } catch (error) {
        debug('%s attempt failed: %s', context.commandName, describeFailure(error))
        throw error
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'transshipAttemptLog' },
  )
  return client
}

/** Whether an object key (below the prefix) is one the transport could have stored. */
function isArtifactKey(key: string): boolean {
  try {
    assertSafeKey(key, DRIVER_NAME)
    return true
  } catch {
    return false
  }
}

function byKey(one: ArtifactStat, other: ArtifactStat): number {
  return one.key < other.key ? -1 : one.key > other.key ? 1 : 0
}
