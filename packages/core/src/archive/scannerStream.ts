import { Transform, type TransformCallback } from 'node:stream'
import type { TarScanner } from './tarScanner.js'

/**
 * A pass-through stream that feeds every chunk to a tar scanner and forwards what the
 * scanner lets through (it holds back the end-of-archive marker until the input ends).
 *
 * @param scanner - the scanner, with its per-entry checks.
 * @param failure - turns what the scanner throws into the stream's error.
 * @return the stream.
 */
export function scannerStream(scanner: TarScanner, failure: (error: unknown) => Error): Transform {
  const forward = (stream: Transform, callback: TransformCallback, step: () => Buffer[]) => {
    let parts: Buffer[]
    try {
      parts = step()
    } catch (error) {
      callback(failure(error))
      return
    }
    for (const part of parts) stream.push(part)
    callback()
  }
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      forward(this, callback, () => scanner.scan(chunk))
    },
    flush(callback: TransformCallback) {
      forward(this, callback, () => scanner.end())
    },
  })
}
