import { randomBytes } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { openStream, sealStream } from '../../src/sealing/sealedStream.js'
import { SecretKey } from '../../src/sealing/secretKey.js'
import { CONTEXT } from './support.js'

const MiB = 1024 * 1024

/** The collector, to measure what is still held, not what awaits collection. */
function garbageCollector(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

/** JS heap and Buffers (which live outside it) in use. */
function inUse(): number {
  const { heapUsed, arrayBuffers } = process.memoryUsage()
  return heapUsed + arrayBuffers
}

describe('sealing memory', () => {
  it('stays flat while 256 MiB are sealed and opened', async () => {
    const gc = garbageCollector()
    const total = 256 * MiB
    const piece = randomBytes(MiB)
    gc()
    const baseline = inUse()
    let largest = 0
    let received = 0
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.length
        if (received % (16 * MiB) >= chunk.length) {
          callback()
          return
        }
        // Every 16 MiB: what the streams hold once garbage is gone. V8 frees the memory of
        // collected Buffers on a background thread: a second collection, a moment later,
        // sees it freed.
        gc()
        setTimeout(() => {
          gc()
          largest = Math.max(largest, inUse() - baseline)
          callback()
        }, 5)
      },
    })
    async function* generate() {
      for (let sent = 0; sent < total; sent += piece.length) yield piece
    }
    const secret = SecretKey.generate()
    await pipeline(
      Readable.from(generate()),
      sealStream(secret, CONTEXT),
      openStream(secret, CONTEXT),
      sink,
    )
    expect(received).toBe(total)
    // About 2 MiB are measured: a few chunks in each stream's buffers.
    expect(largest).toBeLessThan(16 * MiB)
  })
})
