/**
 * One timed transfer for `pnpm bench scp` (bench/scp.ts), in a process of its own, as
 * OpenSSH's `scp` is, so that its peak RSS is its own:
 *
 *   node --import tsx transfer.ts '<json Transfer>'
 *
 * prints `{"ms":…,"bytes":…}` on stdout. The time covers what `scp`'s does: connecting,
 * authenticating, the transfer (with its checks), and closing.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { performance } from 'node:perf_hooks'
import { pipeline } from 'node:stream/promises'
import { createScpTransport, type ScpTransportOptions } from '../../src/index.js'

const READ_SIZE = 1024 * 1024

/** What to transfer, and how. */
export interface Transfer {
  readonly action: 'put' | 'get'
  /** The transport's options: where to connect, the remote base path, the protocol. */
  readonly options: ScpTransportOptions
  /** The artifact's key under the base path. */
  readonly key: string
  /** The local file: read by a put, written by a get. */
  readonly file: string
  /** The file's size: what a get must write. */
  readonly size: number
  /**
   * What a put passes as `expected` (the file's size and sha256, which the transport then
   * checks); nothing, as the core's backup stages pass (they hash the stream themselves).
   */
  readonly expected?: { readonly size: number; readonly sha256: string }
}

/** What a transfer measured. */
export interface Measured {
  readonly ms: number
  readonly bytes: number
}

async function main(transfer: Transfer): Promise<Measured> {
  const started = performance.now()
  const transport = createScpTransport(transfer.options)
  let bytes: number
  if (transfer.action === 'put') {
    // Read in 1 MiB chunks (and written with as much buffered), as a program that streams a
    // file would; scp has its own buffers.
    const body = createReadStream(transfer.file, { highWaterMark: READ_SIZE })
    const stored = await transport.put(transfer.key, body, transfer.expected)
    bytes = stored.size
  } else {
    const body = await transport.get(transfer.key)
    await pipeline(body, createWriteStream(transfer.file, { highWaterMark: READ_SIZE }))
    bytes = (await stat(transfer.file)).size
  }
  await transport.close?.()
  return { ms: performance.now() - started, bytes }
}

const measured = await main(JSON.parse(process.argv[2] ?? '') as Transfer)
process.stdout.write(`${JSON.stringify(measured)}\n`)
