import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  CHUNK_SIZE,
  HEADER_SIZE,
  SEALED_MAGIC,
  sealedSize,
  TAG_SIZE,
} from '../../src/sealing/sealedFormat.js'
import { openStream, sealStream } from '../../src/sealing/sealedStream.js'
import { SecretKey } from '../../src/sealing/secretKey.js'
import { CONTEXT, chunkRange, flipped, open, refused, seal } from './support.js'

const secret = SecretKey.generate()
const MiB = 1024 * 1024

describe('sealStream and openStream', () => {
  it.each([0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE, 5 * MiB + 123])(
    'round-trip %i bytes, the sealed size as sealedSize says',
    async (size) => {
      const plaintext = randomBytes(size)
      const sealed = await seal(secret, plaintext)
      expect(sealed.length).toBe(sealedSize(size))
      expect((await open(secret, sealed)).equals(plaintext)).toBe(true)
    },
  )

  it('seals and opens input fed one byte at a time', async () => {
    const plaintext = randomBytes(2 * CHUNK_SIZE + 77)
    const sealed = await seal(secret, plaintext, 1)
    expect(sealed.length).toBe(sealedSize(plaintext.length))
    expect((await open(secret, sealed, 1)).equals(plaintext)).toBe(true)
  })

  it.each([7, 1000, CHUNK_SIZE - 3, CHUNK_SIZE + TAG_SIZE + 1, 100_003])(
    'seals and opens input fed in pieces of %i bytes',
    async (pieceSize) => {
      const plaintext = randomBytes(4 * CHUNK_SIZE + 999)
      const sealed = await seal(secret, plaintext, pieceSize)
      expect((await open(secret, sealed, pieceSize)).equals(plaintext)).toBe(true)
    },
  )

  it('seals the same plaintext differently every time (a fresh salt, so a fresh key)', async () => {
    const plaintext = randomBytes(1000)
    const [first, second] = [await seal(secret, plaintext), await seal(secret, plaintext)]
    expect(first.subarray(0, SEALED_MAGIC.length).equals(SEALED_MAGIC)).toBe(true)
    expect(first.subarray(SEALED_MAGIC.length).equals(second.subarray(SEALED_MAGIC.length))).toBe(
      false,
    )
    // Nothing of the plaintext shows through.
    expect(first.includes(plaintext.subarray(0, 32))).toBe(false)
  })

  it('refuses data sealed with another key', async () => {
    const sealed = await seal(SecretKey.generate(), randomBytes(1000))
    const { error } = await refused(secret, sealed, 'SEAL_AUTHENTICATION_FAILED')
    expect(error.message).toContain('sealed with another key')
  })

  it('refuses data sealed for another backup or another artifact', async () => {
    const sealed = await seal(secret, randomBytes(1000))
    for (const other of [
      'web-20261126T101500Z-0000/volumes/0.tar',
      'web-20261125T101500Z-3f9a/volumes/1.tar',
    ]) {
      await refused(secret, sealed, 'SEAL_AUTHENTICATION_FAILED', { context: other })
    }
  })

  describe('a changed byte', () => {
    const plaintext = randomBytes(3 * CHUNK_SIZE + 500)
    const sealedOnce = seal(secret, plaintext)

    it('in the magic: not sealed data', async () => {
      await refused(secret, flipped(await sealedOnce, 3), 'SEAL_NOT_SEALED')
    })

    it('in the salt: no chunk authenticates', async () => {
      const sealed = flipped(await sealedOnce, HEADER_SIZE - 1)
      await refused(secret, sealed, 'SEAL_AUTHENTICATION_FAILED')
    })

    it.each([
      ['the body of the first chunk', 0, 10],
      ['the body of a middle chunk', 1, 30_000],
      ['the tag of a middle chunk', 2, CHUNK_SIZE + 5],
      ['the body of the final chunk', 3, 0],
      ['the tag of the final chunk', 3, 500 + TAG_SIZE - 1],
    ])('in %s', async (_where, chunk, offset) => {
      const sealed = await sealedOnce
      const { start } = chunkRange(sealed, chunk)
      const { error } = await refused(
        secret,
        flipped(sealed, start + offset),
        'SEAL_AUTHENTICATION_FAILED',
      )
      expect(error.message).toContain(`chunk ${chunk}`)
    })
  })

  it('passes on nothing of a chunk that does not authenticate', async () => {
    const plaintext = randomBytes(3 * CHUNK_SIZE + 500)
    const sealed = await seal(secret, plaintext)
    // Chunk 1's first byte: its plaintext would differ from the original in one byte only.
    const { emitted } = await refused(
      secret,
      flipped(sealed, chunkRange(sealed, 1).start),
      'SEAL_AUTHENTICATION_FAILED',
      { pieceSize: 4096 },
    )
    expect(emitted.equals(plaintext.subarray(0, CHUNK_SIZE))).toBe(true)
  })

  it('passes on nothing of a final chunk that does not authenticate', async () => {
    const plaintext = randomBytes(2 * CHUNK_SIZE + 500)
    const sealed = await seal(secret, plaintext)
    const { emitted } = await refused(
      secret,
      flipped(sealed, sealed.length - 1),
      'SEAL_AUTHENTICATION_FAILED',
    )
    expect(emitted.equals(plaintext.subarray(0, 2 * CHUNK_SIZE))).toBe(true)
  })

  it('refuses reordered chunks', async () => {
    const sealed = await seal(secret, randomBytes(3 * CHUNK_SIZE + 500))
    const [zero, one] = [chunkRange(sealed, 0), chunkRange(sealed, 1)]
    const reordered = Buffer.concat([
      sealed.subarray(0, HEADER_SIZE),
      sealed.subarray(one.start, one.end),
      sealed.subarray(zero.start, zero.end),
      sealed.subarray(one.end),
    ])
    expect(reordered.length).toBe(sealed.length)
    const { error } = await refused(secret, reordered, 'SEAL_AUTHENTICATION_FAILED')
    expect(error.message).toContain('chunk 0')
  })

  it('refuses a chunk swapped in from other sealed data with the same key and context', async () => {
    const [sealed, other] = [
      await seal(secret, randomBytes(2 * CHUNK_SIZE)),
      await seal(secret, randomBytes(2 * CHUNK_SIZE)),
    ]
    const { start, end } = chunkRange(sealed, 1)
    const spliced = Buffer.concat([
      sealed.subarray(0, start),
      other.subarray(start, end),
      sealed.subarray(end),
    ])
    await refused(secret, spliced, 'SEAL_AUTHENTICATION_FAILED')
  })

  describe('truncated', () => {
    it.each([
      ['a short final chunk', 3 * CHUNK_SIZE + 500, 3],
      ['a full final chunk', 3 * CHUNK_SIZE, 2],
    ])('at a chunk boundary, without %s', async (_what, size, finalChunk) => {
      const sealed = await seal(secret, randomBytes(size))
      const cut = chunkRange(sealed, finalChunk).start
      const { error, emitted } = await refused(secret, sealed.subarray(0, cut), 'SEAL_TRUNCATED')
      expect(error.message).toContain('cut short')
      // The chunks before the last one kept were followed by more data: they were opened
      // and passed on; the last one kept was not (it is not a final chunk).
      expect(emitted.length).toBe((finalChunk - 1) * CHUNK_SIZE)
    })

    it.each([
      ['empty', 0],
      ['inside the magic', 5],
      ['inside the salt', HEADER_SIZE - 1],
      ['after the header', HEADER_SIZE],
      ['inside the first chunk, before a tag fits', HEADER_SIZE + TAG_SIZE - 1],
    ])('%s', async (_where, length) => {
      const sealed = await seal(secret, randomBytes(1000))
      await refused(secret, sealed.subarray(0, length), 'SEAL_TRUNCATED')
    })

    it('inside a chunk', async () => {
      const sealed = await seal(secret, randomBytes(3 * CHUNK_SIZE + 500))
      const { error } = await refused(
        secret,
        sealed.subarray(0, chunkRange(sealed, 1).start + 1000),
        'SEAL_AUTHENTICATION_FAILED',
      )
      expect(error.message).toContain('cut short')
    })
  })

  describe('trailing data', () => {
    it('after a full final chunk', async () => {
      const sealed = await seal(secret, randomBytes(2 * CHUNK_SIZE))
      const { error } = await refused(
        secret,
        Buffer.concat([sealed, Buffer.from('x')]),
        'SEAL_TRUNCATED',
      )
      expect(error.message).toContain('after its final chunk')
    })

    it('after a short final chunk', async () => {
      const sealed = await seal(secret, randomBytes(2 * CHUNK_SIZE + 10))
      await refused(
        secret,
        Buffer.concat([sealed, Buffer.alloc(100)]),
        'SEAL_AUTHENTICATION_FAILED',
      )
    })

    it('a second sealed stream appended', async () => {
      const sealed = await seal(secret, randomBytes(CHUNK_SIZE))
      await refused(secret, Buffer.concat([sealed, sealed]), 'SEAL_TRUNCATED')
    })
  })

  it('refuses data that is not sealed as soon as its first bytes arrive', async () => {
    const opening = openStream(secret, CONTEXT)
    const failed = new Promise((resolve) => opening.once('error', resolve))
    opening.write(Buffer.from('./da')) // a tar archive's first bytes, and no end()
    expect(await failed).toMatchObject({ code: 'SEAL_NOT_SEALED' })
  })

  it('refuses an empty context', () => {
    for (const make of [sealStream, openStream]) {
      expect(() => make(secret, '')).toThrow(
        expect.objectContaining({ code: 'SEAL_CONTEXT_INVALID' }),
      )
    }
  })
})
