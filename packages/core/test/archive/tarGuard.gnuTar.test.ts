import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  chownSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tarGuard } from '../../src/archive/tarGuard.js'
import { refusal, through } from './support.js'

const describeIt = 'volume data in backup b1'
const guard = () => tarGuard({ root: 'volume', describe: describeIt })
const refuse = (archive: Buffer, chunkSize?: number) =>
  refusal(guard(), archive, describeIt, chunkSize)
const LONG_NAME = `sub/${'n'.repeat(150)}`
const DEEP_DIR = `sub/deeper/${'d'.repeat(120)}`
const DEEP_FILE = `${DEEP_DIR}/${'f'.repeat(140)}` // a path of more than 255 bytes
const LONG_TARGET = `/${'z'.repeat(130)}`

let base: string

/** GNU tar's archive of `members` under `base`, e.g. `tar --format=gnu -c volume`. */
function gnuTar(args: string[], members = ['volume']): Buffer {
  return execFileSync('tar', ['-C', base, '-c', '-f', '-', '-P', ...args, ...members], {
    maxBuffer: 64 * 1024 * 1024,
  })
}

function memberCount(archive: Buffer): number {
  return execFileSync('tar', ['-t', '-P', '-f', '-'], { input: archive })
    .toString()
    .split('\n')
    .filter((line) => line !== '').length
}

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'transship-targuard-'))
  const at = (path: string) => join(base, 'volume', path)
  mkdirSync(at(DEEP_DIR), { recursive: true })
  writeFileSync(at('a.txt'), 'hello\n')
  chmodSync(at('a.txt'), 0o4755)
  writeFileSync(at('empty'), '')
  if (process.getuid?.() === 0) chownSync(at('empty'), 1234, 5678)
  writeFileSync(at('big.bin'), Buffer.alloc(300_000, 3))
  mkdirSync(at('sticky'))
  chmodSync(at('sticky'), 0o1777)
  execFileSync('mkfifo', [at('fifo')])
  linkSync(at('a.txt'), at('hard'))
  symlinkSync('sub/deeper', at('rel'))
  symlinkSync('../a.txt', at('sub/up'))
  symlinkSync('missing', at('dangling'))
  symlinkSync('/etc/hostname', at('abs'))
  symlinkSync(LONG_TARGET, at('long-target'))
  writeFileSync(at('café ünï 日本.txt'), 'non-ASCII\n')
  writeFileSync(at('with space'), 'x')
  writeFileSync(at(LONG_NAME), 'long name\n')
  writeFileSync(at(DEEP_FILE), 'deep\n')
  // Fits ustar: a name of at most 100 bytes after a prefix of at most 155.
  writeFileSync(at(`${DEEP_DIR}/${'u'.repeat(90)}`), 'prefix and name\n')
})

afterAll(() => {
  rmSync(base, { recursive: true, force: true })
})

describe('tarGuard on archives written by GNU tar', () => {
  it.each(['gnu', 'oldgnu', 'posix'])(
    'passes a --format=%s archive through byte for byte, in any chunks',
    async (format) => {
      const archive = gnuTar([`--format=${format}`])
      for (const size of [1, 509, 10240, archive.length]) {
        const guarded = guard()
        expect((await through(guarded, archive, size)).equals(archive)).toBe(true)
        expect(guarded.entryCount).toBe(memberCount(archive))
      }
    },
  )

  it('passes a --format=ustar archive, with prefixed names', async () => {
    const members = ['a.txt', 'hard', 'rel', 'sticky', `${DEEP_DIR}/${'u'.repeat(90)}`]
    const archive = gnuTar(['--format=ustar', '--no-recursion'], members.map(inVolume))
    expect((await through(guard(), archive, 1)).equals(archive)).toBe(true)
  })

  it('passes a --format=v7 archive', async () => {
    const members = ['a.txt', 'hard', 'rel', 'abs', 'sticky', 'café ünï 日本.txt']
    const archive = gnuTar(['--format=v7'], members.map(inVolume))
    expect((await through(guard(), archive, 3)).equals(archive)).toBe(true)
  })

  it('passes a global PAX header', async () => {
    const archive = gnuTar(['--format=posix', '--pax-option=comment=hello'])
    expect((await through(guard(), archive, 100)).equals(archive)).toBe(true)
  })

  it.each([
    ['gnu', 'L'],
    ['posix', 'PAX'],
  ])('refuses a long name with .. (--format=%s, %s header)', async (format) => {
    const climbing = `volume/../${'q'.repeat(120)}`
    const archive = gnuTar(
      [`--format=${format}`, '--transform', `s,^volume/a.txt$,${climbing},`],
      ['volume/a.txt'],
    )
    const error = await refuse(archive, 1)
    expect(error.message).toContain(`entry "${climbing}" is outside "volume"`)
  })

  it.each([
    ['gnu', 'K'],
    ['posix', 'PAX'],
  ])('refuses a long symlink target that climbs out (--format=%s, %s header)', async (format) => {
    const target = `../../${'q'.repeat(120)}`
    const archive = gnuTar(
      [`--format=${format}`, '--transform', `s,^/z*$,${target},`],
      ['volume/long-target'],
    )
    const error = await refuse(archive, 7)
    expect(error.message).toContain(`"volume/long-target" is a symlink to "${target}"`)
  })

  it('refuses a hard link to a name outside the root', async () => {
    const archive = gnuTar(
      ['--format=gnu', '--transform', 's,^volume/a.txt$,../outside,RSh'],
      ['volume/a.txt', 'volume/hard'],
    )
    const error = await refuse(archive)
    expect(error.message).toMatch(/entry "volume\/(hard|a.txt)" is a hard link to "..\/outside"/)
  })

  it('refuses an absolute name', async () => {
    const archive = gnuTar(['--format=posix'], [join(base, 'volume', 'a.txt')])
    expect((await refuse(archive)).message).toContain('has an absolute name')
  })

  describe('sparse files', () => {
    beforeAll(() => {
      writeFileSync(join(base, 'sparse'), '')
      truncateSync(join(base, 'sparse'), 1024 * 1024)
    })

    it.each([
      ['gnu', 'old GNU sparse entries are not supported'],
      ['posix', 'GNU sparse entries are not supported'],
    ])('refuses them (--format=%s)', async (format, message) => {
      const archive = gnuTar(
        [`--format=${format}`, '--sparse', '--transform', 's,^,volume/,'],
        ['sparse'],
      )
      expect((await refuse(archive)).message).toContain(message)
    })
  })
})

function inVolume(path: string): string {
  return path.startsWith('volume/') ? path : `volume/${path}`
}
