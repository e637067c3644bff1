import { randomBytes } from 'node:crypto'
import { Readable, type Writable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { describe, expect, it } from 'vitest'
import {
  CODEC_NAMES,
  compressingCodec,
  findCodec,
  readingCodec,
} from '../../src/compression/codecs.js'
import { measureStreaming } from '../support/flatMemory.js'

const MiB = 1024 * 1024

/** Text-like data: compressible, as volumes mostly are. */
function compressible(size: number): Buffer {
  const words = ['volume', 'redis', 'checkpoint', 'layer', 'image', 'key', 'value', '\n']
  const parts: string[] = []
  let length = 0
  for (let i = 0; length < size; i++) {
    const word = `${words[(i * 7) % words.length]}${i % 1000} `
    parts.push(word)
    length += word.length
  }
  return Buffer.from(parts.join('')).subarray(0, size)
}

async function through(stream: NodeJS.ReadWriteStream, data: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = []
  for (let at = 0; at < data.length; at += 64 * 1024) chunks.push(data.subarray(at, at + 64 * 1024))
  return buffer(Readable.from(chunks).pipe(stream as unknown as Writable) as unknown as Readable)
}

describe.each(CODEC_NAMES)('%s', (name) => {
  const codec = findCodec(name)

  it('is on this machine (zstd from node:zlib or zstd-napi)', () => {
    expect(codec?.name).toBe(name)
  })

  it('round-trips, fed in pieces, and compresses compressible data', async () => {
    if (!codec) throw new Error(`no ${name}`)
    const data = compressible(4 * MiB)
    const compressed = await through(codec.compress(), data)
    expect(compressed.length).toBeLessThan(data.length / 3)
    expect((await through(codec.decompress(), compressed)).equals(data)).toBe(true)
  })

  it('round-trips empty data', async () => {
    if (!codec) throw new Error(`no ${name}`)
    const compressed = await through(codec.compress(), Buffer.alloc(0))
    expect((await through(codec.decompress(), compressed)).length).toBe(0)
  })

  it('fails on a stream cut short or not its own', async () => {
    if (!codec) throw new Error(`no ${name}`)
    const compressed = await through(codec.compress(), compressible(MiB))
    await expect(through(codec.decompress(), compressed.subarray(0, 1000))).rejects.toThrow()
    await expect(through(codec.decompress(), randomBytes(1000))).rejects.toThrow()
  })

  it('streams: memory stays flat while 256 MiB are compressed and decompressed', async () => {
    if (!codec) throw new Error(`no ${name}`)
    const { received, largest } = await measureStreaming(
      compressible(MiB),
      256 * MiB,
      [codec.compress(), codec.decompress()],
      32 * MiB,
    )
    expect(received).toBe(256 * MiB)
    expect(largest).toBeLessThan(32 * MiB)
  }, 120_000)
})

describe('choosing a codec', () => {
  it('none stores as it is; zstd and gzip are found here, without a warning', () => {
    expect(compressingCodec('none')).toEqual({ codec: undefined })
    expect(compressingCodec('zstd').codec?.name).toBe('zstd')
    expect(compressingCodec('zstd').warning).toBeUndefined()
    expect(compressingCodec('gzip').codec?.name).toBe('gzip')
  })

  it('refuses a codec a manifest names that this transship does not know, naming it', () => {
    expect(() => readingCodec('lz4', 'file:///srv/b1')).toThrow(
      expect.objectContaining({
        code: 'COMPRESSION_UNKNOWN',
        message: expect.stringMatching(/file:\/\/\/srv\/b1 is compressed with "lz4"/),
      }),
    )
    expect(readingCodec('zstd', 'file:///srv/b1').name).toBe('zstd')
  })
})
