import { createHash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { TransshipError } from '../errors.js'

/** The byte size and sha256 of a stream's content, as a manifest records an artifact. */
export interface ArtifactDigest {
  /** Byte count. */
  readonly size: number
  /** Lower-case hex sha256. */
  readonly sha256: string
}

/** A pass-through stream that hashes what flows through it. */
export interface HashingStream extends Transform {
  /**
   * The digest of everything that went through, once the stream has flushed.
   *
   * @throws the stream's error, or TransshipError `INTERRUPTED` when it was destroyed
   *   before its end.
   */
  digest(): Promise<ArtifactDigest>
}

/**
 * A pass-through stream that computes the sha256 and byte count of the data as it flows,
 * so that an artifact is hashed on its way into a transport without a second read.
 *
 * ## Example
 * ```ts
 * const hashing = hashingStream()
 * await pipeline(await engine.getArchive(helper, '/volume'), hashing, upload)
 * const { size, sha256 } = await hashing.digest()
 * ```
 *
 * @return the stream; its `digest()` resolves once the stream has flushed.
 */
export function hashingStream(): HashingStream {
  return new HashingTransform()
}

class HashingTransform extends Transform implements HashingStream {
  readonly #hash = createHash('sha256')
  #size = 0
  readonly #result: Promise<ArtifactDigest>
  #resolve: (digest: ArtifactDigest) => void = () => {}
  #reject: (error: unknown) => void = () => {}

  constructor() {
    super()
    this.#result = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    // A caller that never asks for the digest must not get an unhandled rejection: the
    // same error reaches it through the stream.
    this.#result.catch(() => {})
  }

  digest(): Promise<ArtifactDigest> {
    return this.#result
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.#hash.update(chunk)
    this.#size += chunk.length
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback) {
    this.#resolve({ size: this.#size, sha256: this.#hash.digest('hex') })
    callback()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void) {
    // After a flush the digest is settled and this does nothing.
    this.#reject(error ?? new TransshipError('INTERRUPTED', 'the stream was closed before its end'))
    callback(error)
  }
}
