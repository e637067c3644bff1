import { Readable, type Transform, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { type Header, pack } from 'tar-stream'
import { expect } from 'vitest'

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(1024)

/**
 * Writes `data` into `stream` in chunks of `chunkSize` bytes and collects what comes out.
 *
 * @param onOutput - sees every output chunk as it arrives, also when the stream then fails.
 * @throws the stream's error.
 */
export async function through(
  stream: Transform,
  data: Buffer,
  chunkSize = data.length,
  onOutput: (chunk: Buffer) => void = () => {},
): Promise<Buffer> {
  const output: Buffer[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      output.push(chunk)
      onOutput(chunk)
      callback()
    },
  })
  await pipeline(Readable.from(chunksOf(data, chunkSize)), stream, sink)
  return Buffer.concat(output)
}

/** `data` cut into chunks of `size` bytes (the last one may be shorter). */
export function chunksOf(data: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = []
  for (let offset = 0; offset < data.length; offset += size) {
    chunks.push(data.subarray(offset, offset + size))
  }
  return chunks
}

/**
 * Runs `archive` through `guard`, expecting an `UNSAFE_ARCHIVE` refusal that names `describe`.
 *
 * @return the error, for its message to be checked.
 */
export async function refusal(
  guard: Transform,
  archive: Buffer,
  describe: string,
  chunkSize?: number,
): Promise<Error> {
  const error = await through(guard, archive, chunkSize).then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toMatchObject({ name: 'TransshipError', code: 'UNSAFE_ARCHIVE' })
  expect((error as Error).message).toContain(describe)
  return error as Error
}

/** An archive member for {@link packTar}: a tar-stream header, and a file's content. */
export type PackEntry = Partial<Header> & { name: string; content?: string | Buffer }

/** Builds an archive with tar-stream (ustar, with PAX headers where a name needs one). */
export async function packTar(entries: PackEntry[]): Promise<Buffer> {
  const packer = pack()
  const chunks: Buffer[] = []
  const collected = (async () => {
    for await (const chunk of packer) chunks.push(chunk as Buffer)
  })()
  for (const { content, ...header } of entries) {
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve())
      if (header.type === undefined || header.type === 'file') {
        packer.entry(header, content ?? '', done)
      } else {
        packer.entry(header, done)
      }
    })
  }
  packer.finalize()
  await collected
  return Buffer.concat(chunks)
}

/** Fields of a hand-made ustar header; strings are written as UTF-8. */
export interface RawHeaderFields {
  name: string
  /** Type flag character; `'0'` by default. */
  type?: string
  size?: number
  linkname?: string
  prefix?: string
}

/**
 * A hand-made ustar header block with a valid checksum, for archives tar libraries will not
 * write.
 */
export function rawHeader(fields: RawHeaderFields): Buffer {
  const block = Buffer.alloc(512)
  block.write(fields.name, 0)
  block.write('0000644\0', 100)
  block.write('0000000\0', 108)
  block.write('0000000\0', 116)
  block.write(`${(fields.size ?? 0).toString(8).padStart(11, '0')}\0`, 124)
  block.write('00000000000\0', 136)
  block.write(fields.type ?? '0', 156, 'latin1')
  block.write(fields.linkname ?? '', 157)
  block.write('ustar\x0000', 257, 'latin1')
  block.write(fields.prefix ?? '', 345)
  return withChecksum(block)
}

/** Rewrites a header block's checksum after its fields were changed. */
export function withChecksum(block: Buffer): Buffer {
  block.fill(0x20, 148, 156)
  let sum = 0
  for (const byte of block) sum += byte
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
  return block
}

/** Data padded with zeros to a whole number of 512-byte blocks. */
export function padded(data: Buffer | string): Buffer {
  const bytes = Buffer.from(data)
  return Buffer.concat([bytes, Buffer.alloc((512 - (bytes.length % 512)) % 512)])
}

/** A PAX extended header ('x', or 'g' for a global one) with its records, padded. */
export function paxHeader(records: Record<string, string>, type: 'x' | 'g' = 'x'): Buffer {
  const data = Object.entries(records)
    .map(([keyword, value]) => paxRecord(`${keyword}=${value}\n`))
    .join('')
  const bytes = Buffer.from(data)
  return Buffer.concat([rawHeader({ name: 'PaxHeader', type, size: bytes.length }), padded(bytes)])
}

function paxRecord(body: string): string {
  const length = Buffer.byteLength(body) + 1
  const total = length + String(length + String(length).length).length
  return `${total} ${body}`
}
