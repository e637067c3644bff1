/**
 * At most `count` part buffers in use at once: the memory of one multipart upload. A
 * buffer given back is handed to the next taker of the same size, so that an upload
 * allocates `count` buffers, not one per part.
 */
export class PartBuffers {
  readonly #count: number
  #inUse = 0
  readonly #free: Buffer[] = []
  readonly #waiting: Array<() => void> = []
  /** The most bytes held at once, in use or free: what the upload's parts cost in memory. */
  peakBytes = 0
  #heldBytes = 0

  constructor(count: number) {
    this.#count = count
  }

  /**
   * A buffer of `size` bytes (uninitialised), once fewer than `count` are in use.
   *
   * @throws the signal's reason when it is aborted while waiting.
   */
  async take(size: number, signal: AbortSignal): Promise<Buffer> {
    while (this.#inUse >= this.#count) await this.#turn(signal)
    signal.throwIfAborted()
    this.#inUse += 1
    const reused = this.#free.pop()
    if (reused?.length === size) return reused
    if (reused) this.#heldBytes -= reused.length
    this.#heldBytes += size
    this.peakBytes = Math.max(this.peakBytes, this.#heldBytes)
    return Buffer.allocUnsafe(size)
  }

  /** Gives a buffer back; `reuse: false` when something may still read it. */
  give(buffer: Buffer, reuse = true): void {
    this.#inUse -= 1
    if (reuse) this.#free.push(buffer)
    else this.#heldBytes -= buffer.length
    this.#waiting.shift()?.()
  }

  #turn(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#waiting.splice(this.#waiting.indexOf(wake), 1)
        reject(signal.reason)
      }
      const wake = () => {
        signal.removeEventListener('abort', onAbort)
        resolve()
      }
      if (signal.aborted) {
        reject(signal.reason)
        return
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#waiting.push(wake)
    })
  }
}
