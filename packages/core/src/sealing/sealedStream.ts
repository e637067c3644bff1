/**
 * Authenticated encryption of streams: the chunked AEAD stream of docs/sealed-format.md,
 * modelled on age's STREAM payload, on Node's own crypto (HKDF-SHA256, ChaCha20-Poly1305).
 *
 * Why Node's crypto and not the `age-encryption` package: measured side by side by
 * `BENCH_SCALE=0.25 pnpm bench sealing` (256 MiB from memory, median of 3 runs, node 20.20,
 * a 2-CPU Xeon VM with AES/VAES, under a load average of 2.7 from other tests), in MiB/s,
 * with the time relative to sha256 alone (what an artifact costs today):
 *
 * | candidate                | seal (sha256 + seal) | seal + open (+ sha256) |
 * | ------------------------ | -------------------- | ---------------------- |
 * | sha256 only              | 828 (1.00)           | 475 (1.00)             |
 * | Node chacha20-poly1305   | 452 (1.83)           | 203 (2.34)             |
 * | Node aes-256-gcm         | 458 (1.81)           | 204 (2.33)             |
 * | age-encryption 0.3.1     | 40 (20.66)           | 20 (23.56)             |
 *
 * age-encryption is pure JavaScript (@noble/ciphers) and ten times slower: at 40 MiB/s it
 * would be the slowest stage of every backup. Node's two AEADs tie in the pipeline (AES-GCM
 * is 15-25 % faster per chunk in isolation on this CPU); ChaCha20-Poly1305 is age's, and
 * runs in constant time and at speed without AES instructions (e.g. a Raspberry Pi 4), so
 * the format uses it.
 *
 * What it costs a backup: sealing takes about 1 ms of one core per MiB here (1/452 − 1/828
 * s), opening about 1.8 ms; whether that stays within the 15 % depends on how busy
 * that core already is in the volume copy (`pnpm bench volumes`), not measured here.
 */
import { Transform, type TransformCallback } from 'node:stream'
import { Opener } from './opener.js'
import { Sealer } from './sealer.js'
import type { SecretKey } from './secretKey.js'

/**
 * A stream that seals what flows through it: the header, then the plaintext in sealed
 * 64 KiB chunks, the last one marked final. It holds at most one chunk.
 *
 * ## Example
 * ```ts
 * const hashing = hashingStream()
 * await pipeline(archive, sealStream(secret, `${id}/volumes/0.tar`), hashing, upload)
 * ```
 *
 * @param secret - the secret key.
 * @param context - where the data belongs, e.g. `<backup id>/<artifact name>`: only the
 *   same context opens it.
 * @return the stream; its output is {@link sealedSize} bytes for its input's size.
 * @throws TransshipError `SEAL_CONTEXT_INVALID` on an empty context.
 */
export function sealStream(secret: SecretKey, context: string): Transform {
  return transformOf(new Sealer(secret, context))
}

/**
 * A stream that opens what {@link sealStream} sealed with the same key and context. It
 * holds at most one sealed chunk, and passes on a chunk's plaintext only once its tag has
 * been checked; the final chunk's is passed on at the end of the input, as only the end
 * tells that it is final. A consumer must treat everything as untrusted until the stream
 * ends without an error.
 *
 * ## Example
 * ```ts
 * await pipeline(await transport.get(key), openStream(secret, `${id}/volumes/0.tar`), untar)
 * ```
 *
 * @param secret - the secret key the data was sealed with.
 * @param context - the context it was sealed with, named in the errors.
 * @return the stream.
 * @throws TransshipError (as the stream's error) naming the context:
 *   `SEAL_NOT_SEALED` when the data does not begin as sealed data does;
 *   `SEAL_AUTHENTICATION_FAILED` when a chunk does not authenticate: changed, sealed with
 *   another key, or sealed for another context (another backup or artifact);
 *   `SEAL_TRUNCATED` when it ends before its final chunk, or goes on after it.
 */
export function openStream(secret: SecretKey, context: string): Transform {
  return transformOf(new Opener(secret, context))
}

/** What {@link transformOf} drives: a {@link Sealer} or an {@link Opener}. */
export interface IncrementalCoder {
  write(input: Buffer): Buffer[]
  end(): Buffer[]
}

/**
 * A Transform around a sealer or an opener (exported for the benchmark, which compares
 * AEADs).
 *
 * @param coder - the sealer or opener.
 * @return the stream; what the coder throws becomes its error.
 */
export function transformOf(coder: IncrementalCoder): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      pushAll(this, () => coder.write(chunk), callback)
    },
    flush(callback: TransformCallback) {
      pushAll(this, () => coder.end(), callback)
    },
  })
}

function pushAll(stream: Transform, step: () => Buffer[], callback: TransformCallback): void {
  let output: Buffer[]
  try {
    output = step()
  } catch (error) {
    callback(error as Error)
    return
  }
  for (const piece of output) stream.push(piece)
  callback()
}
