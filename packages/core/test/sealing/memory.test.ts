import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { openStream, sealStream } from '../../src/sealing/sealedStream.js'
import { SecretKey } from '../../src/sealing/secretKey.js'
import { measureStreaming } from '../support/flatMemory.js'
import { CONTEXT } from './support.js'

const MiB = 1024 * 1024

describe('sealing memory', () => {
  it('stays flat while 256 MiB are sealed and opened', async () => {
    const secret = SecretKey.generate()
    const { received, largest } = await measureStreaming(
      randomBytes(MiB),
      256 * MiB,
      [sealStream(secret, CONTEXT), openStream(secret, CONTEXT)],
      16 * MiB,
    )
    expect(received).toBe(256 * MiB)
    // About 2 MiB are measured: a few chunks in each stream's buffers.
    expect(largest).toBeLessThan(16 * MiB)
  })
})
