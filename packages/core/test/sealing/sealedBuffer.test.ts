import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { openBuffer, sealBuffer } from '../../src/sealing/sealedBuffer.js'
import { CHUNK_SIZE, sealedSize } from '../../src/sealing/sealedFormat.js'
import { SecretKey } from '../../src/sealing/secretKey.js'
import { CONTEXT, flipped, open, seal } from './support.js'

const secret = SecretKey.generate()
const manifest = Buffer.from(JSON.stringify({ format: 'transship-backup', id: 'b1' }))

describe('sealBuffer and openBuffer', () => {
  it.each([0, 1, manifest.length, CHUNK_SIZE, 2 * CHUNK_SIZE + 3])(
    'round-trip %i bytes',
    (size) => {
      const plaintext = randomBytes(size)
      const sealed = sealBuffer(secret, CONTEXT, plaintext)
      expect(sealed.length).toBe(sealedSize(size))
      expect(openBuffer(secret, CONTEXT, sealed).equals(plaintext)).toBe(true)
    },
  )

  it('writes the format of the streams, both ways', async () => {
    const plaintext = randomBytes(CHUNK_SIZE + 5)
    expect((await open(secret, sealBuffer(secret, CONTEXT, plaintext))).equals(plaintext)).toBe(
      true,
    )
    expect(openBuffer(secret, CONTEXT, await seal(secret, plaintext)).equals(plaintext)).toBe(true)
  })

  it.each([
    ['another key', SecretKey.generate(), CONTEXT, (sealed: Buffer) => sealed],
    ['another context', secret, 'b2/manifest.json', (sealed: Buffer) => sealed],
    ['a changed byte', secret, CONTEXT, (sealed: Buffer) => flipped(sealed, 40)],
  ])('refuses %s, naming the context', (_case, key, context, change) => {
    const sealed = change(sealBuffer(secret, CONTEXT, manifest))
    expect(() => openBuffer(key, context, sealed)).toThrow(
      expect.objectContaining({
        code: 'SEAL_AUTHENTICATION_FAILED',
        message: expect.stringContaining(context),
      }),
    )
  })

  it('refuses a cut, and what is not sealed', () => {
    const sealed = sealBuffer(secret, CONTEXT, randomBytes(2 * CHUNK_SIZE))
    expect(() =>
      openBuffer(secret, CONTEXT, sealed.subarray(0, sealed.length - 16 - CHUNK_SIZE)),
    ).toThrow(expect.objectContaining({ code: 'SEAL_TRUNCATED' }))
    expect(() => openBuffer(secret, CONTEXT, manifest)).toThrow(
      expect.objectContaining({ code: 'SEAL_NOT_SEALED' }),
    )
  })
})
