import { Transform } from 'node:stream'

/**
 * A pass-through stream that reports the running byte count, for progress events.
 *
 * @param onBytes - called with the total so far after each chunk, and once at the end.
 * @return the stream.
 */
export function meter(onBytes: (bytesDone: number) => void): Transform {
  let done = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      done += chunk.length
      onBytes(done)
      callback(null, chunk)
    },
    flush(callback) {
      onBytes(done)
      callback()
    },
  })
}
