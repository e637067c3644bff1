import { createHash } from 'node:crypto'
import { Transform } from 'node:stream'
import { TransshipError } from '../errors.js'
import type { ArtifactDigest } from './hashingStream.js'

/**
 * A pass-through stream that checks the data against the size and sha256 it must have. It
 * fails as soon as more bytes arrive than expected, and otherwise in its flush, before
 * signalling the end: a consumer such as an upload to Docker sees an error instead of a
 * clean end when the bytes do not match, and can discard what it received.
 *
 * ## Example
 * ```ts
 * await pipeline(
 *   await transport.get(artifact.key),
 *   verifyingStream(artifact, `artifact ${artifact.key}`),
 *   upload,
 * )
 * ```
 *
 * @param expected - the size and lower-case hex sha256 the data must have.
 * @param describe - what the data is, for the error message, e.g. `artifact b1/volumes/0.tar`.
 * @return the stream.
 * @throws TransshipError `INTEGRITY` (as the stream's error) when the data does not match.
 */
export function verifyingStream(expected: ArtifactDigest, describe: string): Transform {
  const hash = createHash('sha256')
  let size = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length
      if (size > expected.size) {
        callback(
          new TransshipError(
            'INTEGRITY',
            `${describe} is corrupt: more than the expected ${expected.size} bytes arrived`,
          ),
        )
        return
      }
      hash.update(chunk)
      callback(null, chunk)
    },
    flush(callback) {
      const sha256 = hash.digest('hex')
      if (size === expected.size && sha256 === expected.sha256.toLowerCase()) {
        callback()
        return
      }
      callback(
        new TransshipError(
          'INTEGRITY',
          `${describe} is corrupt: expected ${expected.size} bytes with sha256 ${expected.sha256}, ` +
            `received ${size} bytes with sha256 ${sha256}`,
        ),
      )
    },
  })
}
