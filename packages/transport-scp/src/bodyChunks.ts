import { createHash, type Hash } from 'node:crypto'
import type { Readable } from 'node:stream'

/**
 * A body's chunks as Buffers (string chunks as their UTF-8 bytes, empty ones skipped),
 * read one at a time, counted and, when asked, hashed. Stopping early leaves the body
 * open, so that another way of writing can take over where one stopped.
 */
export class BodyChunks {
  readonly #chunks: AsyncIterator<unknown>
  readonly #hash: Hash | undefined
  #bytes = 0
  #ended = false

  /**
   * @param body - the stream to read.
   * @param hashing - whether to hash what is read.
   */
  constructor(body: Readable, hashing: boolean) {
    this.#chunks = body[Symbol.asyncIterator]()
    this.#hash = hashing ? createHash('sha256') : undefined
  }

  /** The next chunk, or `undefined` at the end of the body. */
  async next(): Promise<Buffer | undefined> {
    while (!this.#ended) {
      const { value, done } = await this.#chunks.next()
      if (done) {
        this.#ended = true
        break
      }
      const bytes =
        typeof value === 'string'
          ? Buffer.from(value)
          : Buffer.from(
              (value as Uint8Array).buffer,
              (value as Uint8Array).byteOffset,
              (value as Uint8Array).byteLength,
            )
      if (bytes.length === 0) continue
      this.#hash?.update(bytes)
      this.#bytes += bytes.length
      return bytes
    }
    return undefined
  }

  /** Whether the body has ended. */
  get ended(): boolean {
    return this.#ended
  }

  /** The bytes read so far. */
  get bytes(): number {
    return this.#bytes
  }

  /** The sha256 of everything read, when hashing was asked for; call it at the end. */
  sha256(): string | undefined {
    return this.#hash?.digest('hex')
  }
}
