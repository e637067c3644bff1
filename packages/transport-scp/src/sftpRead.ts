import { Readable } from 'node:stream'
import { RemoteError } from './errors.js'
import { type Sftp, sessionEnded } from './sftp.js'
import type { PipelineShape } from './sftpWrite.js'

/** One read request, in file order. */
interface Slot {
  readonly position: number
  readonly length: number
  done: boolean
  data?: Buffer
  error?: unknown
}

/**
 * A byte stream of an open SFTP file of known size, keeping up to `depth` read requests of
 * `chunkSize` bytes in flight and delivering their data in order. It reads ahead at most
 * `depth` requests beyond what its consumer has taken, and holds about one chunk in its
 * buffer: a slow consumer holds the transfer back. The stream fails when the file ends
 * before `size` bytes (it was truncated meanwhile) or a request fails (the connection
 * dropped), so a partial transfer never ends like a complete one. The handle is closed
 * when the stream ends or is destroyed.
 */
export class PipelinedReadStream extends Readable {
  readonly #sftp: Sftp
  readonly #handle: Buffer
  readonly #size: number
  readonly #shape: PipelineShape
  readonly #failure: (error: unknown) => Error
  readonly #queue: Slot[] = []
  #requested = 0
  #delivered = 0
  #wanting = false

  /**
   * @param sftp - the SFTP session the handle belongs to.
   * @param handle - a handle open for reading.
   * @param size - the file's size, from `fstat` of the handle.
   * @param shape - request size and count.
   * @param failure - makes the error the stream fails with from what went wrong.
   */
  constructor(
    sftp: Sftp,
    handle: Buffer,
    size: number,
    shape: PipelineShape,
    failure: (error: unknown) => Error,
  ) {
    super({ highWaterMark: shape.chunkSize })
    this.#sftp = sftp
    this.#handle = handle
    this.#size = size
    this.#shape = shape
    this.#failure = failure
  }

  override _read(): void {
    this.#wanting = true
    this.#pump()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#sftp.close(this.#handle).then(
      () => callback(error),
      () => callback(error),
    )
  }

  #pump(): void {
    if (this.destroyed) return
    while (this.#wanting && this.#queue[0]?.done) {
      const slot = this.#queue.shift() as Slot
      if (slot.error !== undefined) {
        this.destroy(this.#failure(slot.error))
        return
      }
      const data = slot.data ?? Buffer.alloc(0)
      if (data.length === 0) {
        this.destroy(
          this.#failure(
            new RemoteError(
              `the file ended after ${this.#delivered} of its ${this.#size} bytes: it changed while it was read`,
            ),
          ),
        )
        return
      }
      if (data.length < slot.length) {
        // A short read: ask for the rest next, before the requests already in flight.
        this.#queue.unshift(this.#issue(slot.position + data.length, slot.length - data.length))
      }
      this.#delivered += data.length
      this.#wanting = this.push(data)
    }
    while (this.#queue.length < this.#shape.depth && this.#requested < this.#size) {
      const length = Math.min(this.#shape.chunkSize, this.#size - this.#requested)
      this.#queue.push(this.#issue(this.#requested, length))
      this.#requested += length
    }
    if (this.#wanting && this.#queue.length === 0 && this.#delivered === this.#size) {
      this.push(null)
    }
  }

  #issue(position: number, length: number): Slot {
    const slot: Slot = { position, length, done: false }
    const settle = (error: unknown, data?: Buffer) => {
      slot.done = true
      slot.error = error ?? undefined
      slot.data = data
      this.#pump()
    }
    if (!this.#sftp.isOpen) {
      queueMicrotask(() => settle(sessionEnded()))
      return slot
    }
    try {
      const buffer = Buffer.allocUnsafe(length)
      this.#sftp.wrapper.read(this.#handle, buffer, 0, length, position, (error, bytesRead) =>
        settle(error, error ? undefined : buffer.subarray(0, bytesRead)),
      )
    } catch (error) {
      queueMicrotask(() => settle(error))
    }
    return slot
  }
}
