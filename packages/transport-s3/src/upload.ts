import { createHash } from 'node:crypto'
import { addAbortSignal, type Readable } from 'node:stream'
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3'
import { type ArtifactExpectation, TransshipError } from '@transship/core'
import createDebug from 'debug'
import { DRIVER_NAME, describeFailure, errorNameOf, httpStatusOf } from './errors.js'
import type { KeyLock } from './keyLock.js'
import type { ResolvedStorage } from './options.js'
import { PartBuffers } from './partBuffers.js'
import { MAX_PARTS, planParts } from './partPlan.js'

const debug = createDebug('transship:s3')

/** Where an upload goes and with what. */
export interface UploadTarget {
  readonly client: S3Client
  readonly storage: ResolvedStorage
  /** The transport key, for messages. */
  readonly key: string
  /** The object key in the bucket. */
  readonly objectKey: string
  /** `s3://bucket/objectKey`, for messages. */
  readonly location: string
  /** Serialises commits to one object key. */
  readonly commits: KeyLock
}

/** What an upload stored. */
export interface Uploaded {
  readonly size: number
  readonly sha256: string
  /** How many parts it took; 0 for a single PutObject. */
  readonly parts: number
  /** The most bytes its part buffers held at once. */
  readonly peakBufferBytes: number
}

/**
 * Streams `body` to `target`, hashing it on the way, and commits the object only once the
 * whole body is read and matches `expected`.
 *
 * The body is cut into parts as it is read, never read further than the free part buffers
 * allow (`parallelism` of them). A body that fits in the first part goes up as one
 * PutObject, sent only after it is verified. A longer one goes up as a multipart upload:
 * parts are sent while the body is read, and the sha256 is known once the last part is
 * read, before that part is sent. A mismatch then aborts the upload instead of completing
 * it, so the object never appears; on S3 a multipart upload is invisible until
 * CompleteMultipartUpload. Any failure (body, part, abort signal) aborts the multipart
 * upload after its parts in flight have settled; a server that refuses the abort (s3rver
 * answers 405) gets a warning, and the original failure is thrown.
 *
 * @param target - where the object goes.
 * @param body - the artifact; string chunks are stored as UTF-8.
 * @param expected - its size and sha256, when known; `expected.size` also sizes the parts.
 * @param sizeHint - an estimate of its size, to size the parts when `expected.size` is not given.
 * @param signal - aborts the upload; nothing is then committed.
 * @throws TransshipError `TRANSPORT_INTEGRITY` when `expected` is not met; the body's
 *   error, an `AbortError` or an SDK error otherwise.
 */
export async function uploadObject(
  target: UploadTarget,
  body: Readable,
  expected: ArtifactExpectation | undefined,
  sizeHint: number | undefined,
  signal: AbortSignal | undefined,
): Promise<Uploaded> {
  const { storage } = target
  signal?.throwIfAborted()
  const stop = new AbortController()
  const relay = () => stop.abort(signal?.reason)
  signal?.addEventListener('abort', relay, { once: true })
  // Whatever stops the upload also stops the reading of the body, so a put whose body is
  // waiting for data ends at once.
  addAbortSignal(stop.signal, body)
  const plan = planParts(storage.partSize, expected?.size ?? sizeHint)
  const buffers = new PartBuffers(storage.parallelism)
  const hash = createHash('sha256')
  let size = 0
  let part: Buffer | undefined
  let filled = 0
  let multipart: MultipartUpload | undefined
  try {
    for await (const chunk of body as AsyncIterable<Uint8Array | string>) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      hash.update(bytes)
      size += bytes.length
      if (expected?.size !== undefined && size > expected.size) {
        throw integrityError(target, `more than the expected ${expected.size} bytes`)
      }
      for (let offset = 0; offset < bytes.length; ) {
        if (part !== undefined && filled === part.length) {
          // A full part goes once more bytes follow: a body of exactly one part is then
          // still a single PutObject, and the last part is sent only once verified.
          multipart ??= new MultipartUpload(target, stop)
          multipart.send(part, part, buffers)
          part = undefined
        }
        if (part === undefined) {
          const number = (multipart?.partCount ?? 0) + 1
          if (number > MAX_PARTS) {
            throw new TransshipError(
              'TRANSPORT_IO',
              `[${DRIVER_NAME}] cannot put ${JSON.stringify(target.key)} at ${target.location}: it is larger than ${MAX_PARTS} parts hold`,
            )
          }
          part = await buffers.take(plan.sizeOf(number), stop.signal)
          filled = 0
        }
        const copied = Math.min(bytes.length - offset, part.length - filled)
        part.set(bytes.subarray(offset, offset + copied), filled)
        offset += copied
        filled += copied
      }
    }
    const sha256 = hash.digest('hex')
    verify(target, expected, size, sha256)
    if (multipart === undefined) {
      const content = part?.subarray(0, filled) ?? Buffer.alloc(0)
      await target.commits.run(target.objectKey, () =>
        putObject(target, content, sha256, stop.signal),
      )
      debug('put %s: %d bytes in one PutObject', target.location, size)
      return { size, sha256, parts: 0, peakBufferBytes: buffers.peakBytes }
    }
    if (part !== undefined) multipart.send(part.subarray(0, filled), part, buffers)
    const parts = await multipart.complete()
    debug('put %s: %d bytes in %d parts', target.location, size, parts)
    return { size, sha256, parts, peakBufferBytes: buffers.peakBytes }
  } catch (error) {
    const failure = multipart?.failure ?? error
    stop.abort(failure)
    await multipart?.abort(describeFailure(failure))
    throw failure
  } finally {
    signal?.removeEventListener('abort', relay)
  }
}

function verify(
  target: UploadTarget,
  expected: ArtifactExpectation | undefined,
  size: number,
  sha256: string,
): void {
  const mismatches = [
    expected?.size !== undefined && expected.size !== size
      ? `size ${size} instead of ${expected.size}`
      : undefined,
    expected?.sha256 !== undefined && expected.sha256 !== sha256
      ? `sha256 ${sha256} instead of ${expected.sha256}`
      : undefined,
  ].filter((mismatch) => mismatch !== undefined)
  if (mismatches.length > 0) throw integrityError(target, mismatches.join(' and '))
}

function integrityError(target: UploadTarget, what: string): TransshipError {
  return new TransshipError(
    'TRANSPORT_INTEGRITY',
    `[${DRIVER_NAME}] refusing to store ${JSON.stringify(target.key)} at ${target.location}: it has ${what}`,
  )
}

async function putObject(
  { client, storage, objectKey }: UploadTarget,
  content: Buffer,
  sha256: string,
  signal: AbortSignal,
): Promise<void> {
  signal.throwIfAborted()
  await client.send(
    new PutObjectCommand({
      Bucket: storage.bucket,
      Key: objectKey,
      Body: content,
      ContentLength: content.length,
      // S3 checks it on arrival; s3rver ignores it.
      ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64'),
      ...storage.objectParams,
    }),
    { abortSignal: signal },
  )
}

/** The multipart upload of one put, created when its first part is full. */
class MultipartUpload {
  readonly #target: UploadTarget
  readonly #stop: AbortController
  readonly #parts: CompletedPart[] = []
  readonly #inFlight = new Set<Promise<void>>()
  #created: Promise<string> | undefined
  /** The first failure of a part or of the upload's creation. */
  failure: unknown
  partCount = 0

  constructor(target: UploadTarget, stop: AbortController) {
    this.#target = target
    this.#stop = stop
  }

  /**
   * Sends the next part in the background; `buffer` (which `content` is part of) goes back
   * to `buffers` once the part is stored. A failure stops the whole upload.
   */
  send(content: Buffer, buffer: Buffer, buffers: PartBuffers): void {
    const number = ++this.partCount
    const task = this.#sendPart(number, content).then(
      () => buffers.give(buffer),
      (error: unknown) => {
        buffers.give(buffer, false)
        this.failure ??= error
        this.#stop.abort(error)
      },
    )
    this.#inFlight.add(task)
    void task.finally(() => this.#inFlight.delete(task))
  }

  async #sendPart(number: number, content: Buffer): Promise<void> {
    const { client, storage, objectKey } = this.#target
    const uploadId = await this.#create()
    const result = await client.send(
      new UploadPartCommand({
        Bucket: storage.bucket,
        Key: objectKey,
        UploadId: uploadId,
        PartNumber: number,
        Body: content,
        ContentLength: content.length,
      }),
      { abortSignal: this.#stop.signal },
    )
    if (!result.ETag) throw new Error(`the server returned no ETag for part ${number}`)
    this.#parts[number - 1] = {
      PartNumber: number,
      ETag: result.ETag,
      ...(result.ChecksumCRC32 && { ChecksumCRC32: result.ChecksumCRC32 }),
      ...(result.ChecksumCRC32C && { ChecksumCRC32C: result.ChecksumCRC32C }),
      ...(result.ChecksumCRC64NVME && { ChecksumCRC64NVME: result.ChecksumCRC64NVME }),
      ...(result.ChecksumSHA1 && { ChecksumSHA1: result.ChecksumSHA1 }),
      ...(result.ChecksumSHA256 && { ChecksumSHA256: result.ChecksumSHA256 }),
    }
  }

  #create(): Promise<string> {
    this.#created ??= (async () => {
      const { client, storage, objectKey, location } = this.#target
      // As lib-storage does: when the client sends checksums by default, the upload is
      // declared with CRC32 and each part's checksum is given back on completion.
      const checksums = (await client.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED'
      const created = await client.send(
        new CreateMultipartUploadCommand({
          Bucket: storage.bucket,
          Key: objectKey,
          ...(checksums && { ChecksumAlgorithm: 'CRC32' as const }),
          ...storage.objectParams,
        }),
        { abortSignal: this.#stop.signal },
      )
      if (!created.UploadId) throw new Error('the server returned no upload id')
      debug('put %s: multipart upload %s', location, created.UploadId)
      return created.UploadId
    })()
    return this.#created
  }

  /** Waits for every part, then completes the upload under the key's commit lock. */
  async complete(): Promise<number> {
    await this.#settled()
    if (this.failure !== undefined) throw this.failure
    this.#stop.signal.throwIfAborted()
    const uploadId = await this.#create()
    const { client, storage, objectKey, commits } = this.#target
    await commits.run(objectKey, async () => {
      this.#stop.signal.throwIfAborted()
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: storage.bucket,
          Key: objectKey,
          UploadId: uploadId,
          MultipartUpload: { Parts: this.#parts },
        }),
        { abortSignal: this.#stop.signal },
      )
    })
    return this.partCount
  }

  /**
   * Aborts the upload once its parts in flight have settled. A refusal is a warning: the
   * failure that led here is what the caller reports.
   */
  async abort(reason: string): Promise<void> {
    await this.#settled()
    const uploadId = await this.#created?.catch(() => undefined)
    if (uploadId === undefined) return
    const { client, storage, objectKey, location } = this.#target
    try {
      await client.send(
        new AbortMultipartUploadCommand({
          Bucket: storage.bucket,
          Key: objectKey,
          UploadId: uploadId,
        }),
      )
      debug('put %s: aborted multipart upload %s (%s)', location, uploadId, reason)
    } catch (error) {
      if (errorNameOf(error) === 'NoSuchUpload') return
      const status = httpStatusOf(error)
      const unsupported = status === 405 || status === 501
      storage.warn(
        `[${DRIVER_NAME}] could not abort the multipart upload ${uploadId} of ${location} ` +
          `after a failed put: ${describeFailure(error)}. ` +
          (unsupported
            ? 'The server does not implement AbortMultipartUpload; its parts stay on the server.'
            : 'Its parts stay in the bucket until it is aborted or a lifecycle rule removes them.'),
      )
    }
  }

  async #settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight])
  }
}
