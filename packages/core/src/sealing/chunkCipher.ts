import { createCipheriv, createDecipheriv } from 'node:crypto'
import { type Aead, chunkNonce, TAG_SIZE } from './sealedFormat.js'

/**
 * Seals one chunk with the AEAD, under the nonce of its index and finality.
 *
 * @param aead - the AEAD.
 * @param key - the stream's payload key.
 * @param index - the chunk's index, from 0.
 * @param last - whether it is the final chunk.
 * @param plaintext - at most one chunk of plaintext.
 * @return the ciphertext and the tag, in new buffers (not concatenated: a copy of every
 *   chunk costs a tenth of the throughput).
 */
export function sealChunk(
  aead: Aead,
  key: Buffer,
  index: number,
  last: boolean,
  plaintext: Buffer,
): [ciphertext: Buffer, tag: Buffer] {
  const cipher = createCipheriv(aead as 'chacha20-poly1305', key, chunkNonce(index, last), {
    authTagLength: TAG_SIZE,
  })
  const body = cipher.update(plaintext)
  cipher.final()
  return [body, cipher.getAuthTag()]
}

/**
 * Opens one sealed chunk, if it authenticates under the nonce of its index and finality.
 *
 * @param aead - the AEAD.
 * @param key - the stream's payload key.
 * @param index - the chunk's index, from 0.
 * @param last - whether to open it as the final chunk.
 * @param sealed - the chunk's ciphertext and tag (at least {@link TAG_SIZE} bytes).
 * @return the plaintext, or undefined when the tag does not match (nothing of the
 *   unauthenticated plaintext is returned).
 */
export function openChunk(
  aead: Aead,
  key: Buffer,
  index: number,
  last: boolean,
  sealed: Buffer,
): Buffer | undefined {
  const split = sealed.length - TAG_SIZE
  const decipher = createDecipheriv(aead as 'chacha20-poly1305', key, chunkNonce(index, last), {
    authTagLength: TAG_SIZE,
  })
  decipher.setAuthTag(sealed.subarray(split))
  const plaintext = decipher.update(sealed.subarray(0, split))
  try {
    decipher.final()
  } catch {
    return undefined
  }
  return plaintext
}
