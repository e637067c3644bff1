import { randomBytes } from 'node:crypto'
import { sealChunk } from './chunkCipher.js'
import {
  type Aead,
  CHUNK_SIZE,
  checkContext,
  payloadKey,
  SALT_SIZE,
  SEALED_AEAD,
  SEALED_MAGIC,
} from './sealedFormat.js'
import type { SecretKey } from './secretKey.js'

/**
 * Seals plaintext given in pieces of any size, holding at most one chunk: the incremental
 * core of `sealStream` and `sealBuffer`. A full chunk is sealed once more plaintext
 * follows it, since only the end tells which chunk is the final one.
 */
export class Sealer {
  readonly #aead: Aead
  readonly #key: Buffer
  #header: Buffer | undefined
  readonly #chunk = Buffer.allocUnsafe(CHUNK_SIZE)
  #filled = 0
  #index = 0

  /**
   * @param secret - the secret key.
   * @param context - where the data belongs, e.g. `<backup id>/<artifact name>`.
   * @param aead - the benchmark's comparison only: the format uses {@link SEALED_AEAD}.
   */
  constructor(secret: SecretKey, context: string, aead: Aead = SEALED_AEAD) {
    checkContext(context)
    const salt = randomBytes(SALT_SIZE)
    this.#aead = aead
    this.#key = payloadKey(secret, salt, context)
    this.#header = Buffer.concat([SEALED_MAGIC, salt])
  }

  /**
   * Takes the next piece of plaintext.
   *
   * @param plaintext - any number of bytes (copied: the caller may reuse its buffer).
   * @return the sealed bytes now ready: the header first, then whole chunks.
   */
  write(plaintext: Buffer): Buffer[] {
    const output = this.#takeHeader()
    let offset = 0
    while (offset < plaintext.length) {
      if (this.#filled === CHUNK_SIZE) {
        output.push(...sealChunk(this.#aead, this.#key, this.#index++, false, this.#chunk))
        this.#filled = 0
      }
      const copied = plaintext.copy(this.#chunk, this.#filled, offset)
      this.#filled += copied
      offset += copied
    }
    return output
  }

  /**
   * Ends the plaintext.
   *
   * @return the last sealed bytes: the header if not yet given, and the final chunk (empty
   *   only when the whole plaintext is).
   */
  end(): Buffer[] {
    const output = this.#takeHeader()
    const rest = this.#chunk.subarray(0, this.#filled)
    output.push(...sealChunk(this.#aead, this.#key, this.#index++, true, rest))
    this.#filled = 0
    return output
  }

  #takeHeader(): Buffer[] {
    const header = this.#header
    this.#header = undefined
    return header ? [header] : []
  }
}
