import type { Transform } from 'node:stream'
import { TransshipError } from '../errors.js'
import { scannerStream } from './scannerStream.js'
import { TarFormatError } from './tarHeader.js'
import { TarScanner } from './tarScanner.js'

/**
 * A pass-through stream over a tar archive that follows its framing and holds back the
 * end-of-archive marker until its input has ended, without judging the entries (unlike
 * {@link tarGuard}). Put after a `verifyingStream`: the engine's tar reader stops at the
 * marker and may act on the archive before the request body ends, so it must not receive
 * a complete archive from an input that then fails its check.
 *
 * ## Example
 * ```ts
 * await pipeline(
 *   await transport.get(key),
 *   verifyingStream(artifact, `artifact ${key}`),
 *   tarFraming(`artifact ${key}`),
 *   upload,
 * )
 * ```
 *
 * @param describe - what the archive is, for the error message, e.g. `artifact b1/image.tar`.
 * @return the stream.
 * @throws TransshipError `INTEGRITY` (as the stream's error) when the data is not a whole
 *   tar archive: malformed, truncated, or without its end-of-archive marker.
 */
export function tarFraming(describe: string): Transform {
  const scanner = new TarScanner(() => {})
  const failure = (error: unknown) =>
    error instanceof TarFormatError
      ? new TransshipError('INTEGRITY', `${describe} is corrupt: ${error.message}`, {
          cause: error,
        })
      : (error as Error)
  return scannerStream(scanner, failure)
}
