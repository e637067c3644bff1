import { createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sealChunk } from '../../src/sealing/chunkCipher.js'
import {
  CHUNK_SIZE,
  chunkNonce,
  HEADER_SIZE,
  payloadKey,
  SALT_SIZE,
  SEALED_MAGIC,
  sealedSize,
  TAG_SIZE,
} from '../../src/sealing/sealedFormat.js'
import { SecretKey } from '../../src/sealing/secretKey.js'
import { CONTEXT, open, refused, seal } from './support.js'

describe('the sealed format (docs/sealed-format.md)', () => {
  it('is what the document describes, as an independent reading of it decodes', async () => {
    const secret = SecretKey.generate()
    const plaintext = randomBytes(2 * CHUNK_SIZE + 10)
    const sealed = await seal(secret, plaintext)

    // Header: the magic line, then a 16-byte salt.
    expect(sealed.subarray(0, 19).toString('latin1')).toBe('transship-sealed/1\n')
    const salt = sealed.subarray(19, 35)
    // Payload key: HKDF-SHA256(secret, salt, "transship-sealed/1 " + context), 32 bytes.
    const key = Buffer.from(
      hkdfSync('sha256', secret.bytes, salt, `transship-sealed/1 ${CONTEXT}`, 32),
    )
    // Chunks: 64 KiB of ChaCha20-Poly1305 ciphertext + 16-byte tag, the last one shorter,
    // under nonce = 11-byte big-endian counter || final flag.
    const chunks = [
      { start: 35, length: 65536, last: false },
      { start: 35 + 65552, length: 65536, last: false },
      { start: 35 + 2 * 65552, length: 10, last: true },
    ]
    const opened = chunks.map(({ start, length, last }, index) => {
      const nonce = Buffer.alloc(12)
      nonce[10] = index
      nonce[11] = last ? 1 : 0
      const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
      decipher.setAuthTag(sealed.subarray(start + length, start + length + 16))
      const chunk = decipher.update(sealed.subarray(start, start + length))
      decipher.final()
      return chunk
    })
    expect(Buffer.concat(opened).equals(plaintext)).toBe(true)
    expect(sealed.length).toBe(35 + 2 * 65552 + 10 + 16)
  })

  it('writes a chunk nonce as an 11-byte big-endian counter and a final flag', () => {
    expect(chunkNonce(0, false).toString('hex')).toBe('000000000000000000000000')
    expect(chunkNonce(1, true).toString('hex')).toBe('000000000000000000000101')
    expect(chunkNonce(0x0102030405, false).toString('hex')).toBe('000000000000010203040500')
    expect(() => chunkNonce(2 ** 48, false)).toThrow(
      expect.objectContaining({ code: 'SEAL_TOO_LARGE' }),
    )
  })

  it.each([
    [0, HEADER_SIZE + TAG_SIZE],
    [1, HEADER_SIZE + 1 + TAG_SIZE],
    [CHUNK_SIZE, HEADER_SIZE + CHUNK_SIZE + TAG_SIZE],
    [CHUNK_SIZE + 1, HEADER_SIZE + CHUNK_SIZE + 1 + 2 * TAG_SIZE],
    [1024 ** 3, HEADER_SIZE + 1024 ** 3 + 16384 * TAG_SIZE],
  ])('sealedSize(%i) is %i', (plain, sealed) => {
    expect(sealedSize(plain)).toBe(sealed)
  })
})

describe('streams no sealer writes', () => {
  it('refuses an empty final chunk after a full chunk (one plaintext, one sealed form)', async () => {
    const secret = SecretKey.generate()
    const salt = randomBytes(SALT_SIZE)
    const key = payloadKey(secret, salt, CONTEXT)
    const aead = 'chacha20-poly1305'
    const sealed = Buffer.concat([
      SEALED_MAGIC,
      salt,
      ...sealChunk(aead, key, 0, false, randomBytes(CHUNK_SIZE)),
      ...sealChunk(aead, key, 1, true, Buffer.alloc(0)),
    ])
    await refused(secret, sealed, 'SEAL_AUTHENTICATION_FAILED')
    // The same chunks, with the last one holding a byte, open.
    const valid = Buffer.concat([
      SEALED_MAGIC,
      salt,
      ...sealChunk(aead, key, 0, false, Buffer.alloc(CHUNK_SIZE, 1)),
      ...sealChunk(aead, key, 1, true, Buffer.alloc(1, 2)),
    ])
    expect((await open(secret, valid)).length).toBe(CHUNK_SIZE + 1)
  })
})
