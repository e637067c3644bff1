import { type PassThrough, Readable } from 'node:stream'
import { eventually } from './expectations.js'

/** A body that sends `bytes` bytes and then fails with `error`. */
export function failingStream(bytes: number, error: Error): Readable {
  let sent = false
  return new Readable({
    read() {
      if (sent) this.destroy(error)
      else this.push(Buffer.alloc(bytes, 0x5a))
      sent = true
    },
  })
}

/**
 * Writes `bytes` bytes into a body a `put` is reading, without ending it, and resolves once
 * the transport has read them: the put is then known to be under way.
 */
export async function feedWithoutEnding(body: PassThrough, bytes: number): Promise<void> {
  body.write(Buffer.alloc(bytes, 0xa5))
  await eventually(
    () => body.writableLength === 0 && body.readableLength === 0,
    'the transport reading the body',
  )
}
