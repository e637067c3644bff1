import { createHash } from 'node:crypto'
import { Transform } from 'node:stream'
import { TransshipError } from '../errors.js'
import type { ArtifactExpectation } from './contract.js'

/**
 * Refuses an artifact that does not meet what the caller expected of it, before a
 * transport makes it visible under its key.
 *
 * ## Example
 * ```ts
 * assertExpectation('local', key, path, { size: 10, sha256 }, expected)
 * ```
 *
 * @param transport - the transport's name, for the message.
 * @param key - the artifact's key.
 * @param where - where it was written (a path, a host and path).
 * @param written - its size, and its sha256 where one was computed.
 * @param expected - what the caller expected, if anything.
 * @throws TransshipError `TRANSPORT_INTEGRITY`, naming each mismatch.
 */
export function assertExpectation(
  transport: string,
  key: string,
  where: string,
  written: { readonly size: number; readonly sha256?: string },
  expected: ArtifactExpectation | undefined,
): void {
  const mismatches = [
    expected?.size !== undefined && expected.size !== written.size
      ? `size ${written.size} instead of ${expected.size}`
      : undefined,
    expected?.sha256 !== undefined && expected.sha256 !== written.sha256
      ? `sha256 ${written.sha256} instead of ${expected.sha256}`
      : undefined,
  ].filter((mismatch) => mismatch !== undefined)
  if (mismatches.length > 0) {
    throw new TransshipError(
      'TRANSPORT_INTEGRITY',
      `[${transport}] refusing to store ${JSON.stringify(key)} at ${where}: it has ${mismatches.join(' and ')}`,
    )
  }
}

/**
 * Passes a stream on, and fails it at its end when it does not meet the expectation: for a
 * transport that stores something else than what it is given (sealed, compressed), so
 * that the inner transport then commits nothing.
 *
 * @param transport - the transport's name, for the message.
 * @param key - the artifact's key.
 * @param where - where it is written.
 * @param expected - what the caller expected, if anything.
 * @return the stream, and the byte count that went through it.
 */
export function expectationGate(
  transport: string,
  key: string,
  where: string,
  expected: ArtifactExpectation | undefined,
): { stream: Transform; size: () => number } {
  const hash = createHash('sha256')
  let size = 0
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length
      hash.update(chunk)
      callback(null, chunk)
    },
    flush(callback) {
      try {
        assertExpectation(transport, key, where, { size, sha256: hash.digest('hex') }, expected)
        callback()
      } catch (error) {
        callback(error as Error)
      }
    },
  })
  return { stream, size: () => size }
}
