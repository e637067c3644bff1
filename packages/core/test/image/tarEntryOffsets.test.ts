import { describe, expect, it } from 'vitest'
import { type TarEntry, TarScanner } from '../../src/archive/tarScanner.js'
import { chunksOf, packTar, padded, paxHeader, rawHeader } from '../archive/support.js'

// The thin image save cuts whole entries out of a stream by the positions TarScanner
// reports: they must hold whatever the chunking.
const CHUNK_SIZES = [1, 7, 511, 512, 513, 4096, 1 << 20]

function scanAll(archive: Buffer, chunkSize: number): TarEntry[] {
  const entries: TarEntry[] = []
  const scanner = new TarScanner((entry) => entries.push(entry))
  for (const chunk of chunksOf(archive, chunkSize)) scanner.scan(chunk)
  scanner.end()
  return entries
}

const blocks = (size: number) => Math.ceil(size / 512) * 512

describe('TarScanner entry positions', () => {
  it.each(CHUNK_SIZES)(
    'give each entry its data and its full extent, PAX headers included (chunks of %i bytes)',
    async (chunkSize) => {
      const files = {
        'a/json': '{"id":"a"}',
        [`a/${'n'.repeat(150)}`]: 'long name, PAX header',
        'a/layer.tar': Buffer.alloc(3000, 1),
        empty: '',
      }
      const archive = await packTar([
        { name: 'a', type: 'directory' },
        ...Object.entries(files).map(([name, content]) => ({ name, content })),
        { name: 'a/link', type: 'symlink', linkname: 'json' },
      ])
      const entries = scanAll(archive, chunkSize)
      expect(entries.map((e) => e.name)).toEqual(['a', ...Object.keys(files), 'a/link'])
      for (const entry of entries) {
        const content = files[entry.name]
        const data = archive.subarray(entry.dataOffset, entry.dataOffset + entry.size)
        expect(data.equals(Buffer.from(content ?? '')), entry.name).toBe(true)
      }
      // Entries follow each other without a gap; the marker follows the last one.
      let expected = 0
      for (const entry of entries) {
        expect(entry.offset, entry.name).toBe(expected)
        expected = entry.dataOffset + blocks(entry.size)
      }
      expect(archive.length - expected).toBe(1024)
      const long = entries[2] as TarEntry
      expect(long.dataOffset - long.offset).toBeGreaterThan(512)
    },
  )

  it('leaves a header-only entry without data, whatever its size field says', () => {
    const archive = Buffer.concat([
      rawHeader({ name: 'hard', type: '1', linkname: 'x', size: 700 }),
      rawHeader({ name: 'next', size: 3 }),
      padded('abc'),
      Buffer.alloc(1024),
    ])
    const [hard, next] = scanAll(archive, 512)
    expect(hard).toMatchObject({ size: 0, offset: 0, dataOffset: 512 })
    expect(next).toMatchObject({ size: 3, offset: 512, dataOffset: 1024 })
  })

  it('does not count a global PAX header, nor the extensions it cancels, as part of the next entry', () => {
    const archive = Buffer.concat([
      paxHeader({ path: 'forgotten' }),
      paxHeader({ comment: 'global' }, 'g'),
      rawHeader({ name: 'file', size: 1 }),
      padded('x'),
      Buffer.alloc(1024),
    ])
    const [file] = scanAll(archive, 100)
    expect(file).toMatchObject({ name: 'file', offset: 2048, dataOffset: 2560, size: 1 })
  })
})
