import { Opener } from './opener.js'
import { Sealer } from './sealer.js'
import type { SecretKey } from './secretKey.js'

/**
 * Seals a small piece of data held in memory, such as a manifest, in the format of
 * `sealStream` (which opens it, as {@link openBuffer} opens what `sealStream` sealed).
 *
 * @param secret - the secret key.
 * @param context - where the data belongs, e.g. `<backup id>/manifest.json`.
 * @param plaintext - the data.
 * @return the sealed data, `sealedSize(plaintext.length)` bytes.
 * @throws TransshipError `SEAL_CONTEXT_INVALID` on an empty context.
 */
export function sealBuffer(secret: SecretKey, context: string, plaintext: Buffer): Buffer {
  const sealer = new Sealer(secret, context)
  return Buffer.concat([...sealer.write(plaintext), ...sealer.end()])
}

/**
 * Opens sealed data held in memory.
 *
 * @param secret - the secret key it was sealed with.
 * @param context - the context it was sealed with, named in the errors.
 * @param sealed - the sealed data.
 * @return the plaintext, once all of it has authenticated.
 * @throws TransshipError naming the context: `SEAL_NOT_SEALED`,
 *   `SEAL_AUTHENTICATION_FAILED` or `SEAL_TRUNCATED`, as `openStream`.
 */
export function openBuffer(secret: SecretKey, context: string, sealed: Buffer): Buffer {
  const opener = new Opener(secret, context)
  return Buffer.concat([...opener.write(sealed), ...opener.end()])
}
