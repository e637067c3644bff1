import type { BodyChunks } from './bodyChunks.js'
import { type Sftp, sessionEnded } from './sftp.js'

/** Chunks smaller than this are gathered into one request (a copy); larger ones are not. */
const GATHER_BELOW = 64 * 1024

/** How {@link writePipelined} splits and pipelines a stream. */
export interface PipelineShape {
  /** Bytes per SFTP write request. */
  readonly chunkSize: number
  /** Write requests in flight at once. */
  readonly depth: number
}

/**
 * Writes a body's chunks to an open SFTP file handle, from offset `from` on, keeping up to
 * `depth` write requests of at most `chunkSize` bytes in flight: a plain SFTP stream waits
 * for each request's answer before it sends the next, and crawls. Chunks go out as they are
 * (sliced when larger than `chunkSize`); small ones are gathered first. The body is read
 * only while fewer than `depth` requests are pending, so a slow server holds the body back.
 * It stops at the end of the body, or once `stopWhen` returns true (asked before each chunk
 * is read), leaving the rest of the body unread.
 *
 * @param sftp - the SFTP session the handle belongs to.
 * @param handle - a handle open for writing.
 * @param chunks - the body.
 * @param shape - request size and count.
 * @param range - where to start writing, and when to stop reading: `stopWhen` gets the
 *   offset the bytes read so far reach.
 * @return the offset written up to, once every request succeeded.
 * @throws the body's error, or the first failed request's SFTP error (after the requests
 *   in flight have settled).
 */
export async function writePipelined(
  sftp: Sftp,
  handle: Buffer,
  chunks: BodyChunks,
  { chunkSize, depth }: PipelineShape,
  {
    from = 0,
    stopWhen = () => false,
  }: { from?: number; stopWhen?: (reached: number) => boolean } = {},
): Promise<number> {
  let offset = from
  let inFlight = 0
  let failure: { error: unknown } | undefined
  let wake: (() => void) | undefined

  const settled = () => {
    const waiting = wake
    wake = undefined
    waiting?.()
  }
  /** Resolves at the next answer, or when the channel ends (it answers no more). */
  const nextAnswer = () =>
    Promise.race([
      new Promise<void>((resolve) => {
        wake = resolve
      }),
      sftp.ended,
    ])
  /** Waits until at most `limit` requests are pending, and throws the first failure. */
  const drainTo = async (limit: number) => {
    while (inFlight > limit && failure === undefined && sftp.isOpen) await nextAnswer()
    if (failure !== undefined) throw failure.error
    if (!sftp.isOpen) throw sessionEnded()
  }
  /** Waits until no request is pending, failed or not, or the channel has ended. */
  const idle = async () => {
    while (inFlight > 0 && sftp.isOpen) await nextAnswer()
  }
  const send = async (data: Buffer) => {
    await drainTo(depth - 1)
    const position = offset
    offset += data.length
    inFlight += 1
    sftp.wrapper.write(handle, data, 0, data.length, position, (error) => {
      inFlight -= 1
      if (error && failure === undefined) failure = { error }
      settled()
    })
  }

  // Small chunks are gathered into one request; larger ones go as they are, in slices of at
  // most `chunkSize`, without being copied.
  const gather = Math.min(chunkSize, GATHER_BELOW)
  const pending: Buffer[] = []
  let pendingLength = 0
  const flush = async () => {
    if (pendingLength === 0) return
    const joined = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending)
    pending.length = 0
    pendingLength = 0
    await send(joined)
  }
  try {
    while (!stopWhen(offset + pendingLength)) {
      const bytes = await chunks.next()
      if (bytes === undefined) break
      if (pendingLength + bytes.length <= gather) {
        pending.push(bytes)
        pendingLength += bytes.length
        continue
      }
      await flush()
      if (bytes.length < gather) {
        pending.push(bytes)
        pendingLength = bytes.length
        continue
      }
      for (let start = 0; start < bytes.length; start += chunkSize) {
        await send(bytes.subarray(start, start + chunkSize))
      }
    }
    await flush()
    await drainTo(0)
  } catch (error) {
    // Let the requests in flight settle: the handle is closed next, and must be idle.
    await idle()
    throw error
  }
  return offset
}
