import { TransshipError } from '../errors.js'
import { openChunk } from './chunkCipher.js'
import {
  type Aead,
  checkContext,
  HEADER_SIZE,
  payloadKey,
  SEALED_AEAD,
  SEALED_CHUNK_SIZE,
  SEALED_MAGIC,
  TAG_SIZE,
} from './sealedFormat.js'
import type { SecretKey } from './secretKey.js'

/**
 * Opens sealed data given in pieces of any size, holding at most one sealed chunk: the
 * incremental core of `openStream` and `openBuffer`. It returns a chunk's plaintext only
 * once its tag has been checked. A full chunk is opened once more data follows it, as not
 * the final one; the end opens what is left as the final chunk.
 */
export class Opener {
  readonly #secret: SecretKey
  readonly #context: string
  readonly #aead: Aead
  readonly #header = Buffer.alloc(HEADER_SIZE)
  #headerFilled = 0
  #key: Buffer | undefined
  readonly #chunk = Buffer.allocUnsafe(SEALED_CHUNK_SIZE)
  #filled = 0
  #index = 0

  /**
   * @param secret - the secret key it was sealed with.
   * @param context - the context it was sealed with, also named in the errors.
   * @param aead - the benchmark's comparison only: the format uses {@link SEALED_AEAD}.
   */
  constructor(secret: SecretKey, context: string, aead: Aead = SEALED_AEAD) {
    checkContext(context)
    this.#secret = secret
    this.#context = context
    this.#aead = aead
  }

  /**
   * Takes the next piece of sealed data.
   *
   * @param sealed - any number of bytes (copied: the caller may reuse its buffer).
   * @return the plaintext of the chunks now authenticated.
   * @throws TransshipError naming the context: `SEAL_NOT_SEALED` when the data does not
   *   begin with the format's magic, `SEAL_AUTHENTICATION_FAILED` when a chunk does not
   *   authenticate, `SEAL_TRUNCATED` when the final chunk is followed by more data.
   */
  write(sealed: Buffer): Buffer[] {
    let offset = this.#key ? 0 : this.#readHeader(sealed)
    const output: Buffer[] = []
    while (offset < sealed.length) {
      if (this.#filled === SEALED_CHUNK_SIZE) {
        output.push(this.#openFollowedChunk())
        this.#filled = 0
      }
      const copied = sealed.copy(this.#chunk, this.#filled, offset)
      this.#filled += copied
      offset += copied
    }
    return output
  }

  /**
   * Ends the sealed data.
   *
   * @return the final chunk's plaintext.
   * @throws TransshipError naming the context: `SEAL_TRUNCATED` when the data ends before
   *   its final chunk, `SEAL_AUTHENTICATION_FAILED` when the final chunk does not
   *   authenticate.
   */
  end(): Buffer[] {
    const key = this.#key
    if (!key) throw this.#truncated('it ends inside its header')
    if (this.#filled === 0) throw this.#truncated('it ends after its header, without a chunk')
    if (this.#filled < TAG_SIZE) {
      throw this.#truncated(`it ends inside chunk ${this.#index}, before its tag`)
    }
    const sealed = this.#chunk.subarray(0, this.#filled)
    const plaintext = openChunk(this.#aead, key, this.#index, true, sealed)
    if (!plaintext) {
      if (
        sealed.length === SEALED_CHUNK_SIZE &&
        openChunk(this.#aead, key, this.#index, false, sealed)
      ) {
        throw this.#truncated(`it ends after chunk ${this.#index}, which is not its final chunk`)
      }
      // A cut inside the final chunk looks like a change to it.
      throw this.#failed(' or cut short')
    }
    if (plaintext.length === 0 && this.#index > 0) {
      // Authentic, but no sealer writes it: an empty final chunk follows a full one only
      // in another implementation of the format, which this one does not accept.
      throw new TransshipError(
        'SEAL_AUTHENTICATION_FAILED',
        `${this.#context} is not sealed as transship seals: its final chunk is empty`,
      )
    }
    this.#index += 1
    this.#filled = 0
    return [plaintext]
  }

  /** Reads header bytes; derives the key once the header is complete. */
  #readHeader(sealed: Buffer): number {
    const copied = sealed.copy(this.#header, this.#headerFilled)
    const magicSeen = Math.min(this.#headerFilled + copied, SEALED_MAGIC.length)
    if (this.#header.compare(SEALED_MAGIC, 0, magicSeen, 0, magicSeen) !== 0) {
      throw new TransshipError(
        'SEAL_NOT_SEALED',
        `${this.#context} is not sealed data: it does not begin with ` +
          `${JSON.stringify(SEALED_MAGIC.toString('latin1'))}`,
      )
    }
    this.#headerFilled += copied
    if (this.#headerFilled === HEADER_SIZE) {
      const salt = this.#header.subarray(SEALED_MAGIC.length)
      this.#key = payloadKey(this.#secret, salt, this.#context)
    }
    return copied
  }

  /** Opens the full chunk in the buffer, which more data follows: not the final one. */
  #openFollowedChunk(): Buffer {
    const key = this.#key as Buffer
    const plaintext = openChunk(this.#aead, key, this.#index, false, this.#chunk)
    if (!plaintext) {
      if (openChunk(this.#aead, key, this.#index, true, this.#chunk)) {
        throw this.#truncated(`it carries data after its final chunk (chunk ${this.#index})`, {
          trailing: true,
        })
      }
      throw this.#failed()
    }
    this.#index += 1
    return plaintext
  }

  #failed(orCut = ''): TransshipError {
    return new TransshipError(
      'SEAL_AUTHENTICATION_FAILED',
      `${this.#context} was changed${orCut}, or sealed with another key, or belongs to another ` +
        `backup: chunk ${this.#index} (from byte ${HEADER_SIZE + this.#index * SEALED_CHUNK_SIZE}) ` +
        'does not authenticate',
    )
  }

  #truncated(detail: string, { trailing = false } = {}): TransshipError {
    const what = trailing ? 'does not end where it was sealed' : 'is cut short'
    return new TransshipError('SEAL_TRUNCATED', `${this.#context} ${what}: ${detail}`)
  }
}
