import { createHash } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { tarFraming } from '../../src/archive/tarFraming.js'
import { verifyingStream } from '../../src/archive/verifyingStream.js'
import { chunksOf, packTar, through } from '../archive/support.js'

const archive = await packTar([
  { name: 'a/json', content: '{}' },
  { name: 'a/layer.tar', content: Buffer.alloc(10_000, 3) },
])

describe('tarFraming', () => {
  it.each([1, 512, 4096, 1 << 20])(
    'passes an archive through unchanged (chunks of %i bytes)',
    async (chunkSize) => {
      expect((await through(tarFraming('the archive'), archive, chunkSize)).equals(archive)).toBe(
        true,
      )
    },
  )

  it('keeps the end-of-archive marker from a consumer when the check before it fails', async () => {
    const received: Buffer[] = []
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received.push(chunk)
        callback()
      },
    })
    const digest = createHash('sha256').update(archive).digest('hex')
    const corrupt = Buffer.from(archive)
    corrupt[600] = (corrupt[600] as number) ^ 1 // in a.json's data: the framing is intact
    const error = await pipeline(
      Readable.from(chunksOf(corrupt, 1000)),
      verifyingStream({ size: archive.length, sha256: digest }, 'artifact b1/image.tar'),
      tarFraming('artifact b1/image.tar'),
      sink,
    ).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: 'INTEGRITY' })
    expect((error as Error).message).toContain('expected')
    const got = Buffer.concat(received)
    expect(got.length).toBe(archive.length - 1024)
    expect(got.equals(corrupt.subarray(0, got.length))).toBe(true)
  })

  it('fails with INTEGRITY on what is not a whole archive', async () => {
    for (const data of [archive.subarray(0, archive.length - 1024), Buffer.alloc(600, 7)]) {
      const error = await through(tarFraming('artifact b1/image.tar'), data).catch(
        (caught: unknown) => caught,
      )
      expect(error).toMatchObject({ code: 'INTEGRITY' })
      expect((error as Error).message).toContain('artifact b1/image.tar is corrupt')
    }
  })
})
