import { expect } from 'vitest'
import { HEADER_SIZE, SEALED_CHUNK_SIZE } from '../../src/sealing/sealedFormat.js'
import { openStream, sealStream } from '../../src/sealing/sealedStream.js'
import type { SecretKey } from '../../src/sealing/secretKey.js'
import { through } from '../archive/support.js'

/** The context the tests seal with: a backup's artifact. */
export const CONTEXT = 'web-20261125T101500Z-3f9a/volumes/0.tar'

/** Seals `plaintext` through {@link sealStream}, fed in pieces of `pieceSize` bytes. */
export function seal(
  secret: SecretKey,
  plaintext: Buffer,
  pieceSize?: number,
  context = CONTEXT,
): Promise<Buffer> {
  return through(sealStream(secret, context), plaintext, pieceSize)
}

/** Opens `sealed` through {@link openStream}, fed in pieces of `pieceSize` bytes. */
export function open(
  secret: SecretKey,
  sealed: Buffer,
  pieceSize?: number,
  context = CONTEXT,
): Promise<Buffer> {
  return through(openStream(secret, context), sealed, pieceSize)
}

/** The byte range of sealed chunk `index` (ciphertext and tag) in sealed data. */
export function chunkRange(sealed: Buffer, index: number): { start: number; end: number } {
  const start = HEADER_SIZE + index * SEALED_CHUNK_SIZE
  return { start, end: Math.min(start + SEALED_CHUNK_SIZE, sealed.length) }
}

/** A copy of `data` with the byte at `offset` flipped. */
export function flipped(data: Buffer, offset: number): Buffer {
  const copy = Buffer.from(data)
  copy[offset] = (copy[offset] ?? 0) ^ 0x01
  return copy
}

/**
 * Opens `sealed` expecting a refusal with `code` that names the context; also returns
 * what the stream passed on before failing.
 */
export async function refused(
  secret: SecretKey,
  sealed: Buffer,
  code: string,
  { context = CONTEXT, pieceSize }: { context?: string; pieceSize?: number } = {},
): Promise<{ error: Error; emitted: Buffer }> {
  const emitted: Buffer[] = []
  const error = await through(openStream(secret, context), sealed, pieceSize, (chunk) =>
    emitted.push(chunk),
  ).then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toMatchObject({ name: 'TransshipError', code })
  expect((error as Error).message).toContain(context)
  return { error: error as Error, emitted: Buffer.concat(emitted) }
}
