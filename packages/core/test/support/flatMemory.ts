import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** What {@link measureStreaming} saw. */
export interface MemoryMeasure {
  /** Bytes that reached the end of the streams. */
  readonly received: number
  /** The most memory held above the start, once garbage was collected. */
  readonly largest: number
}

/**
 * Streams `total` bytes of `piece` repeated through `streams` and measures the memory the
 * streams hold (JS heap and Buffers, which live outside it) every `every` bytes, once
 * garbage is gone: memory that stays flat with the data's size is what "streamed" means.
 *
 * @param piece - the data, repeated.
 * @param total - how many bytes in all.
 * @param streams - the transforms under test, in order.
 * @param every - how often to measure, in bytes.
 * @return the bytes received and the largest measure.
 */
export async function measureStreaming(
  piece: Buffer,
  total: number,
  streams: readonly NodeJS.ReadWriteStream[],
  every: number,
): Promise<MemoryMeasure> {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const inUse = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers
  gc()
  const baseline = inUse()
  let largest = 0
  let received = 0
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      received += chunk.length
      if (received % every >= chunk.length) {
        callback()
        return
      }
      // V8 frees the memory of collected Buffers on a background thread: a second
      // collection, a moment later, sees it freed.
      gc()
      setTimeout(() => {
        gc()
        largest = Math.max(largest, inUse() - baseline)
        callback()
      }, 5)
    },
  })
  async function* generate() {
    for (let sent = 0; sent < total; sent += piece.length) yield piece
  }
  await pipeline([Readable.from(generate()), ...streams, sink])
  return { received, largest }
}
