import { createHash } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { tarGuard } from '../../src/archive/tarGuard.js'
import { verifyingStream } from '../../src/archive/verifyingStream.js'
import {
  chunksOf,
  END_OF_ARCHIVE,
  type PackEntry,
  packTar,
  padded,
  paxHeader,
  rawHeader,
  refusal,
  through,
  withChecksum,
} from './support.js'

const describeIt = 'volume data in backup b1'
const guard = () => tarGuard({ root: 'volume', describe: describeIt })
const refuse = (archive: Buffer, chunkSize?: number) =>
  refusal(guard(), archive, describeIt, chunkSize)
const CHUNK_SIZES = [1, 7, 511, 512, 513, 4096, 65536]

const LEGIT: PackEntry[] = [
  { name: 'volume', type: 'directory' },
  { name: 'volume/a.txt', content: 'hello\n', mode: 0o4755 },
  { name: 'volume/empty', content: '', uid: 1234, gid: 5678 },
  { name: 'volume/big.bin', content: Buffer.alloc(100_000, 7) },
  { name: 'volume/sticky', type: 'directory', mode: 0o1777 },
  { name: 'volume/sticky/nested/deeper', type: 'directory' },
  { name: 'volume/fifo', type: 'fifo' },
  { name: 'volume/hard', type: 'link', linkname: 'volume/a.txt' },
  { name: 'volume/rel', type: 'symlink', linkname: 'sticky/nested' },
  { name: 'volume/sticky/up', type: 'symlink', linkname: '../a.txt' },
  { name: 'volume/dangling', type: 'symlink', linkname: 'missing' },
  { name: 'volume/abs', type: 'symlink', linkname: '/etc/passwd' },
  { name: `volume/${'n'.repeat(150)}`, content: 'long name, PAX' },
  { name: `volume/${'d'.repeat(120)}/${'f'.repeat(140)}`, content: 'longer than 255' },
  { name: 'volume/café ünï 日本.txt', content: 'non-ASCII, PAX' },
  { name: 'volume/with space', content: 'x' },
]

/** A legit archive with `entries` appended, built by tar-stream. */
function withEntries(entries: PackEntry[]): Promise<Buffer> {
  return packTar([{ name: 'volume/', type: 'directory' }, ...entries])
}

describe('tarGuard on legit archives', () => {
  it.each(CHUNK_SIZES)('passes them through byte for byte, in %i-byte chunks', async (size) => {
    const archive = await packTar(LEGIT)
    const guarded = guard()
    const output = await through(guarded, archive, size)
    expect(output.equals(archive)).toBe(true)
    expect(guarded.entryCount).toBe(LEGIT.length)
    expect(guarded.byteCount).toBe(archive.length)
  })

  it('passes an archive of the root alone, in any spelling', async () => {
    for (const name of ['volume', 'volume/', './volume/']) {
      const archive = await packTar([{ name, type: 'directory' }])
      expect((await through(guard(), archive)).equals(archive)).toBe(true)
    }
  })

  it('passes whatever follows the end-of-archive marker without reading it', async () => {
    const archive = Buffer.concat([await packTar(LEGIT), Buffer.from('not a header'.repeat(100))])
    expect((await through(guard(), archive, 100)).equals(archive)).toBe(true)
  })

  it('holds the end-of-archive marker back until the input has ended', async () => {
    const archive = Buffer.concat([await packTar(LEGIT), Buffer.alloc(4096)])
    const guarded = guard()
    const forwarded: Buffer[] = []
    guarded.on('data', (chunk: Buffer) => forwarded.push(chunk))
    for (let offset = 0; offset < archive.length; offset += 1000) {
      guarded.write(archive.subarray(offset, offset + 1000))
    }
    await new Promise((resolve) => setImmediate(resolve))
    const beforeMarker = archive.length - END_OF_ARCHIVE.length - 4096
    expect(Buffer.concat(forwarded).equals(archive.subarray(0, beforeMarker))).toBe(true)
    await new Promise((resolve) => guarded.end(resolve))
    expect(Buffer.concat(forwarded).equals(archive)).toBe(true)
  })

  it('never forwards the end-of-archive marker when verification fails at the end', async () => {
    const archive = await packTar(LEGIT)
    const expected = {
      size: archive.length,
      sha256: createHash('sha256').update(archive).digest('hex'),
    }
    const corrupt = Buffer.from(archive)
    corrupt[1024 + 2] = (corrupt[1024 + 2] ?? 0) ^ 0x01 // in a.txt's content
    const forwarded: Buffer[] = []
    let ended = false
    const upload = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        forwarded.push(chunk)
        callback()
      },
      final(callback) {
        ended = true
        callback()
      },
    })
    await expect(
      pipeline(
        Readable.from(chunksOf(corrupt, 1000)),
        verifyingStream(expected, 'artifact a'),
        guard(),
        upload,
      ),
    ).rejects.toMatchObject({ code: 'INTEGRITY' })
    expect(ended).toBe(false)
    expect(Buffer.concat(forwarded).length).toBeLessThanOrEqual(
      archive.length - END_OF_ARCHIVE.length,
    )
  })

  it('refuses more than 1 MiB after the end-of-archive marker', async () => {
    const archive = Buffer.concat([await packTar(LEGIT), Buffer.alloc(1024 * 1024 + 1)])
    expect((await refuse(archive, 65536)).message).toContain(
      'more than 1 MiB follows the end-of-archive marker',
    )
  })

  it('ignores global PAX headers', async () => {
    const archive = Buffer.concat([
      paxHeader({ comment: 'hello', path: '../ignored' }, 'g'),
      await packTar(LEGIT),
    ])
    expect((await through(guard(), archive, 3)).equals(archive)).toBe(true)
  })

  it('reads a base-256 size field', async () => {
    const content = Buffer.alloc(1000, 1)
    const header = rawHeader({ name: 'volume/file', size: content.length })
    header.fill(0, 124, 136)
    header[124] = 0x80
    header.writeUInt32BE(content.length, 132)
    const archive = Buffer.concat([withChecksum(header), padded(content), END_OF_ARCHIVE])
    expect((await through(guard(), archive, 1)).equals(archive)).toBe(true)
  })

  it('takes the size from a PAX record', async () => {
    // The header says 0: read as such, the content would be taken for a header.
    const content = padded(rawHeader({ name: '/etc/passwd' }))
    const archive = Buffer.concat([
      paxHeader({ size: String(content.length) }),
      rawHeader({ name: 'volume/file', size: 0 }),
      content,
      END_OF_ARCHIVE,
    ])
    expect((await through(guard(), archive)).equals(archive)).toBe(true)
  })
})

describe('tarGuard refuses entries that leave the root', () => {
  const cases: Array<[string, PackEntry[], string]> = [
    ['a name outside the root', [{ name: 'other/x' }], '"other/x" is outside "volume"'],
    ['an absolute name', [{ name: '/etc/passwd' }], '"/etc/passwd" has an absolute name'],
    ['an absolute name under the root', [{ name: '/volume/x' }], '"/volume/x" has an absolute'],
    ['a leading ..', [{ name: '../x' }], '"../x" is outside'],
    ['a .. that climbs out', [{ name: 'volume/a/../../etc' }], '"volume/a/../../etc" is outside'],
    ['a .. through the root', [{ name: 'volume/../volume/x' }], '"volume/../volume/x" is outside'],
    [
      'a long name with ..',
      [{ name: `volume/../${'n'.repeat(200)}` }],
      `"volume/../${'n'.repeat(200)}" is outside`,
    ],
    ['a non-ASCII name outside', [{ name: 'volume/../é' }], '"volume/../é" is outside "volume"'],
    [
      'a hard link to an absolute name',
      [{ name: 'volume/h', type: 'link', linkname: '/etc/shadow' }],
      '"volume/h" is a hard link to "/etc/shadow", an absolute name',
    ],
    [
      'a hard link outside',
      [{ name: 'volume/h', type: 'link', linkname: 'etc/shadow' }],
      '"volume/h" is a hard link to "etc/shadow", outside "volume"',
    ],
    [
      'a hard link climbing out',
      [{ name: 'volume/h', type: 'link', linkname: 'volume/../../etc/shadow' }],
      'a hard link to "volume/../../etc/shadow", outside',
    ],
    [
      'a symlink climbing out',
      [{ name: 'volume/l', type: 'symlink', linkname: '../etc' }],
      '"volume/l" is a symlink to "../etc", which leads outside "volume"',
    ],
    [
      'a nested symlink climbing out',
      [
        { name: 'volume/a/b', type: 'directory' },
        { name: 'volume/a/b/l', type: 'symlink', linkname: '../../../x' },
      ],
      '"volume/a/b/l" is a symlink to "../../../x"',
    ],
    [
      // The root's name in the archive is not the volume's mount point in the container.
      'a symlink climbing out and back in',
      [{ name: 'volume/l', type: 'symlink', linkname: '../volume/a.txt' }],
      '"volume/l" is a symlink to "../volume/a.txt"',
    ],
    [
      'the root as a symlink to its parent',
      [{ name: 'volume', type: 'symlink', linkname: '..' }],
      '"volume" is a symlink to ".."',
    ],
    [
      'a file beneath an earlier symlink',
      [
        { name: 'volume/l', type: 'symlink', linkname: '/etc' },
        { name: 'volume/l/passwd', content: 'root::0:0::/:/bin/sh\n' },
      ],
      '"volume/l/passwd" is beneath the symlink "volume/l"',
    ],
    [
      'a directory beneath an earlier relative symlink',
      [
        { name: 'volume/d', type: 'directory' },
        { name: 'volume/l', type: 'symlink', linkname: 'd' },
        { name: 'volume/l/x/y', type: 'directory' },
      ],
      '"volume/l/x/y" is beneath the symlink "volume/l"',
    ],
    [
      'a file beneath a symlink, spelt with ..',
      [{ name: 'volume/l', type: 'symlink', linkname: '/' }, { name: 'volume/d/../l/x' }],
      '"volume/d/../l/x" is beneath the symlink "volume/l"',
    ],
    [
      'a hard link to a name beneath a symlink',
      [
        { name: 'volume/l', type: 'symlink', linkname: '/etc' },
        { name: 'volume/h', type: 'link', linkname: 'volume/l/shadow' },
      ],
      '"volume/h" is a hard link to "volume/l/shadow", beneath the symlink "volume/l"',
    ],
    [
      'anything beneath the root as a symlink',
      [{ name: 'volume', type: 'symlink', linkname: '/etc' }, { name: 'volume/passwd' }],
      '"volume/passwd" is beneath the symlink "volume"',
    ],
  ]

  it.each(cases)('refuses %s, naming the entry', async (_case, entries, message) => {
    const archive = await withEntries(entries)
    expect((await refuse(archive)).message).toContain(message)
    expect((await refuse(archive, 1)).message).toContain(message)
  })

  it('forwards nothing of the refused entry', async () => {
    const before = await withEntries([{ name: 'volume/ok', content: 'fine' }])
    const archive = await withEntries([{ name: 'volume/ok', content: 'fine' }, { name: '../x' }])
    const forwarded: Buffer[] = []
    await expect(
      through(guard(), archive, 1, (chunk) => forwarded.push(chunk)),
    ).rejects.toMatchObject({ code: 'UNSAFE_ARCHIVE' })
    const sent = Buffer.concat(forwarded)
    // Everything up to the refused entry's header, and not one byte of it.
    expect(sent.equals(before.subarray(0, before.length - END_OF_ARCHIVE.length))).toBe(true)
  })

  it('applies a PAX path over the header name', async () => {
    const archive = Buffer.concat([
      paxHeader({ path: 'volume/../../etc/cron.d/x' }),
      rawHeader({ name: 'volume/harmless' }),
      END_OF_ARCHIVE,
    ])
    expect((await refuse(archive, 1)).message).toContain('"volume/../../etc/cron.d/x"')
  })

  it('applies a PAX linkpath over the header link name', async () => {
    const archive = Buffer.concat([
      paxHeader({ linkpath: '../../..' }),
      rawHeader({ name: 'volume/l', type: '2', linkname: 'harmless' }),
      END_OF_ARCHIVE,
    ])
    expect((await refuse(archive)).message).toContain('is a symlink to "../../.."')
  })

  it('keeps the header name when the PAX path is empty, as Go does', async () => {
    const archive = Buffer.concat([
      paxHeader({ path: '' }),
      rawHeader({ name: '../escape' }),
      END_OF_ARCHIVE,
    ])
    expect((await refuse(archive)).message).toContain('"../escape" is outside')
  })

  it('applies the ustar prefix', async () => {
    const archive = Buffer.concat([rawHeader({ prefix: '..', name: 'volume/x' }), END_OF_ARCHIVE])
    expect((await refuse(archive)).message).toContain('"../volume/x" is outside')
  })

  it('ignores the size field of entries that have no data, as Go does', async () => {
    // A symlink claiming 512 bytes of data, followed by a header hidden in that "data".
    const archive = Buffer.concat([
      rawHeader({ name: 'volume/l', type: '2', linkname: 'x', size: 512 }),
      rawHeader({ name: '../smuggled' }),
      END_OF_ARCHIVE,
    ])
    expect((await refuse(archive)).message).toContain('"../smuggled" is outside')
  })

  it('reads a NUL type flag with a trailing slash as a directory without data', async () => {
    const archive = Buffer.concat([
      rawHeader({ name: 'volume/d/', type: '\0', size: 512 }),
      rawHeader({ name: '../smuggled' }),
      END_OF_ARCHIVE,
    ])
    expect((await refuse(archive)).message).toContain('"../smuggled" is outside')
  })

  it('forgets a pending PAX path at a global header, as Go does', async () => {
    const archive = Buffer.concat([
      paxHeader({ path: 'volume/fine' }),
      paxHeader({ comment: 'x' }, 'g'),
      rawHeader({ name: '../escape' }),
      END_OF_ARCHIVE,
    ])
    expect((await refuse(archive)).message).toContain('"../escape" is outside')
  })
})

describe('tarGuard refuses archives it cannot follow', () => {
  it('refuses a header whose checksum does not match', async () => {
    const archive = await packTar(LEGIT)
    const corrupt = Buffer.from(archive)
    corrupt[512 + 3] = 0x41 // in the second header's name
    const error = await refuse(corrupt, 100)
    expect(error.message).toMatch(/header at byte 512: its checksum/)
  })

  it('refuses a non-numeric size field', async () => {
    const header = rawHeader({ name: 'volume/x' })
    header.write('12x', 124, 'latin1')
    const archive = Buffer.concat([withChecksum(header), END_OF_ARCHIVE])
    expect((await refuse(archive)).message).toContain('size field is not an octal number')
  })

  it('refuses a GNU header whose atime does not parse, which Go would read another way', async () => {
    // Go would take "../../x" for a ustar prefix here, as written by Go before 1.8.
    const header = rawHeader({ name: 'volume/x' })
    header.write('ustar  \0', 257, 'latin1')
    header.write('../../x', 345, 'latin1')
    const archive = Buffer.concat([withChecksum(header), END_OF_ARCHIVE])
    expect((await refuse(archive)).message).toContain('its atime field is not an octal number')
  })

  it.each([
    ['inside a header', 512 + 100, 'truncated in the header at byte 512'],
    ['inside file data', 512 * 4 + 100, 'truncated in the entry at byte 1536'],
    ['at an entry boundary', 512 * 3, 'ends at byte 1536 without its end marker'],
  ])('refuses an archive truncated %s', async (_case, length, message) => {
    const archive = await packTar([
      { name: 'volume', type: 'directory' },
      { name: 'volume/a', content: 'a' },
      { name: 'volume/b', content: Buffer.alloc(2000) },
    ])
    expect((await refuse(archive.subarray(0, length), 1)).message).toContain(message)
  })

  it('refuses a header after a single zero block', async () => {
    const archive = Buffer.concat([Buffer.alloc(512), rawHeader({ name: 'volume/x' })])
    expect((await refuse(archive)).message).toContain(
      'header at byte 512: it follows a single zero block',
    )
  })

  it('refuses a malformed PAX record', async () => {
    const data = Buffer.from('99 path=volume/x\n')
    const archive = Buffer.concat([
      rawHeader({ name: 'PaxHeader', type: 'x', size: data.length }),
      padded(data),
      rawHeader({ name: 'volume/x' }),
      END_OF_ARCHIVE,
    ])
    expect((await refuse(archive)).message).toContain('malformed PAX record')
  })

  it('refuses a PAX path with a NUL', async () => {
    const archive = Buffer.concat([
      paxHeader({ path: 'volume/x\0/../../y' }),
      rawHeader({ name: 'volume/x' }),
      END_OF_ARCHIVE,
    ])
    expect((await refuse(archive)).message).toContain('malformed PAX record')
  })

  it('refuses extended headers of more than 1 MiB', async () => {
    const archive = Buffer.concat([
      rawHeader({ name: 'PaxHeader', type: 'x', size: 2 * 1024 * 1024 }),
      END_OF_ARCHIVE,
    ])
    expect((await refuse(archive)).message).toContain(
      '2097152 bytes of extended header data are too many',
    )
  })

  it('refuses GNU sparse entries in PAX records', async () => {
    const archive = Buffer.concat([
      paxHeader({ 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': '../x' }),
      rawHeader({ name: 'volume/x' }),
      END_OF_ARCHIVE,
    ])
    expect((await refuse(archive)).message).toContain('GNU sparse entries are not supported')
  })

  it('refuses an invalid root', () => {
    for (const root of ['', '.', '..', 'a/b', '/volume']) {
      expect(() => tarGuard({ root, describe: describeIt })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION' }),
      )
    }
  })
})
