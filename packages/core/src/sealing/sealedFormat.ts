import { hkdfSync } from 'node:crypto'
import { TransshipError } from '../errors.js'
import type { SecretKey } from './secretKey.js'

// The byte format of sealed data; docs/sealed-format.md describes it, and why.

/** The first bytes of sealed data: the format and its version. */
export const SEALED_MAGIC = Buffer.from('transship-sealed/1\n', 'latin1')

/** Bytes of the random salt after the magic, from which each stream's key is derived. */
export const SALT_SIZE = 16

/** Bytes before the first chunk: the magic and the salt. */
export const HEADER_SIZE = SEALED_MAGIC.length + SALT_SIZE

/** Bytes of plaintext in every chunk but the last (which holds 0 to this many). */
export const CHUNK_SIZE = 64 * 1024

/** Bytes of the authentication tag that ends every sealed chunk. */
export const TAG_SIZE = 16

/** Bytes of a full sealed chunk: its plaintext's size, and the tag. */
export const SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE

/** The AEAD that seals the chunks: ChaCha20-Poly1305, as in age (see sealedStream.ts). */
export const SEALED_AEAD = 'chacha20-poly1305'

/**
 * An AEAD Node's crypto provides with a 32-byte key, 12-byte nonce and 16-byte tag. The
 * format uses {@link SEALED_AEAD} only; the other exists for the benchmark's comparison.
 */
export type Aead = 'chacha20-poly1305' | 'aes-256-gcm'

/** The label of the payload key's derivation, before the context. */
const PAYLOAD_KEY_INFO = 'transship-sealed/1 '

/** Chunks a stream can count (a 48-bit counter: 16 EiB of plaintext). */
const MAX_CHUNKS = 2 ** 48

/**
 * Bytes of the sealed form of `plainSize` bytes of plaintext.
 *
 * @param plainSize - bytes of plaintext, ≥ 0.
 * @return the header, the plaintext and one tag per chunk (at least one chunk).
 */
export function sealedSize(plainSize: number): number {
  const chunks = Math.max(1, Math.ceil(plainSize / CHUNK_SIZE))
  return HEADER_SIZE + plainSize + chunks * TAG_SIZE
}

/**
 * Bytes of plaintext that `sealedBytes` bytes of sealed data hold, the inverse of
 * {@link sealedSize}.
 *
 * @param sealedBytes - bytes of sealed data.
 * @return the plaintext's size, or `undefined` when no sealed data has that size.
 */
export function plainSize(sealedBytes: number): number | undefined {
  const body = sealedBytes - HEADER_SIZE
  if (body < TAG_SIZE) return undefined
  const chunks = Math.ceil(body / SEALED_CHUNK_SIZE)
  const plain = body - chunks * TAG_SIZE
  return sealedSize(plain) === sealedBytes ? plain : undefined
}

/**
 * The key that seals one stream: HKDF-SHA256 of the secret, salted with the stream's
 * random salt, its info binding the key to the format and to the stream's context.
 *
 * @param secret - the secret key.
 * @param salt - the {@link SALT_SIZE} bytes of the stream's header.
 * @param context - where the data belongs, e.g. `<backup id>/<artifact name>`.
 * @return 32 bytes.
 */
export function payloadKey(secret: SecretKey, salt: Buffer, context: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret.bytes, salt, PAYLOAD_KEY_INFO + context, 32))
}

/**
 * The nonce of a chunk: its index as an 11-byte big-endian counter, then 0x01 on the final
 * chunk and 0x00 on the others.
 *
 * @param index - the chunk's index, from 0.
 * @param last - whether it is the stream's final chunk.
 * @return 12 bytes.
 */
export function chunkNonce(index: number, last: boolean): Buffer {
  if (index >= MAX_CHUNKS) {
    throw new TransshipError('SEAL_TOO_LARGE', `sealed data is limited to ${MAX_CHUNKS} chunks`)
  }
  const nonce = Buffer.alloc(12)
  nonce.writeUIntBE(index, 5, 6)
  nonce[11] = last ? 1 : 0
  return nonce
}

/**
 * Checks the arguments every sealing function takes.
 *
 * @throws TransshipError `SEAL_CONTEXT_INVALID` on an empty context.
 */
export function checkContext(context: string): void {
  if (context === '') {
    throw new TransshipError(
      'SEAL_CONTEXT_INVALID',
      'sealed data needs a context (where it belongs), not an empty string',
    )
  }
}
