import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { setTimeout as delay } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { randomArtifact } from '../streams.js'
import type { ConformanceContext } from './context.js'
import { LARGE_SIZE } from './roundTrip.js'

/** More than any sane stream buffer or chunk, far less than the artifact. */
const MAX_BUFFERED = 1024 * 1024
/** How many chunks the slow consumer takes its time over. */
const SLOW_READS = 10

/** `get` gives a real byte stream that reads ahead no further than its consumer. */
export function backpressureTests({ transport, key }: ConformanceContext): void {
  describe('get', () => {
    it('returns a byte stream that a slow consumer holds back', async () => {
      const t = transport()
      const artifact = await randomArtifact(LARGE_SIZE, 'backpressure')
      await t.put(key('artifact'), artifact.stream())

      const stream = await t.get(key('artifact'))
      expect(stream).toBeInstanceOf(Readable)
      expect(stream.readableObjectMode).toBe(false)

      const hash = createHash('sha256')
      let size = 0
      let reads = 0
      let allBuffers = true
      let largestChunk = 0
      await delay(20)
      let maxBuffered = stream.readableLength
      for await (const chunk of stream) {
        allBuffers &&= Buffer.isBuffer(chunk)
        largestChunk = Math.max(largestChunk, chunk.length)
        hash.update(chunk)
        size += chunk.length
        if (reads++ < SLOW_READS) {
          await delay(20)
          maxBuffered = Math.max(maxBuffered, stream.readableLength)
        }
      }
      expect(allBuffers).toBe(true)
      expect(largestChunk).toBeLessThan(MAX_BUFFERED)
      expect(maxBuffered).toBeLessThan(MAX_BUFFERED)
      expect({ size, sha256: hash.digest('hex') }).toEqual({
        size: artifact.size,
        sha256: artifact.sha256,
      })
    })
  })
}
