import { createCipheriv, createHash } from 'node:crypto'
import { Readable } from 'node:stream'

const CHUNK_SIZE = 64 * 1024

/** The byte size and lower-case hex sha256 of a stream's content. */
export interface StreamDigest {
  /** Byte count. */
  readonly size: number
  /** Lower-case hex sha256. */
  readonly sha256: string
}

/** Test data that can be streamed any number of times, and whose digest is known upfront. */
export interface RandomArtifact extends StreamDigest {
  /** A new stream of the same bytes each time. */
  stream(): Readable
}

/**
 * A stream of `size` pseudo-random bytes, generated chunk by chunk as it is read (the
 * AES-256-CTR keystream of a key derived from `seed`): the same seed always gives the same
 * bytes, and a multi-GiB stream never sits in memory.
 *
 * ## Example
 * ```ts
 * await transport.put('a/b', randomStream(8 * 1024 * 1024, 'b'))
 * ```
 *
 * @param size - byte count.
 * @param seed - any string; different seeds give different bytes.
 * @return a byte stream that honours backpressure.
 */
export function randomStream(size: number, seed = 'transship'): Readable {
  const key = createHash('sha256').update(seed).digest()
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  const zeros = Buffer.alloc(CHUNK_SIZE)
  let left = size
  return new Readable({
    read() {
      const length = Math.min(left, CHUNK_SIZE)
      left -= length
      this.push(length === 0 ? null : cipher.update(zeros.subarray(0, length)))
    },
  })
}

/**
 * Reads a stream to its end and returns its size and sha256, holding one chunk at a time.
 *
 * ## Example
 * ```ts
 * const { size, sha256 } = await drainToHash(await transport.get('a/b'))
 * ```
 *
 * @param stream - a byte stream; it is consumed.
 * @return its digest.
 * @throws whatever error the stream emits.
 */
export async function drainToHash(stream: Readable): Promise<StreamDigest> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of stream) {
    hash.update(chunk)
    size += chunk.length
  }
  return { size, sha256: hash.digest('hex') }
}

/**
 * Random test data with its digest known before it is sent, for checking `expected` and
 * round trips: {@link randomStream} hashed once.
 *
 * ## Example
 * ```ts
 * const artifact = await randomArtifact(1024, 'small')
 * await transport.put('k', artifact.stream(), { size: artifact.size, sha256: artifact.sha256 })
 * ```
 *
 * @param size - byte count.
 * @param seed - as for {@link randomStream}.
 * @return the artifact's digest and a way to stream it again.
 */
export async function randomArtifact(size: number, seed = 'transship'): Promise<RandomArtifact> {
  const { sha256 } = await drainToHash(randomStream(size, seed))
  return { size, sha256, stream: () => randomStream(size, seed) }
}
