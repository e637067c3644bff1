import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  buildHelper,
  MiB,
  paxBlocks,
  run,
  runFromFile,
  runKeepingStdinOpen,
  scratchDir,
  tarOf,
  ustarBlock,
} from './support.js'

let helper: string
const scratch = scratchDir('refusals')
const outside = join(scratch.dir, 'outside')
let sample: Buffer // pack of a small tree

beforeAll(() => {
  helper = buildHelper()
  mkdirSync(outside)
  const tree = join(scratch.dir, 'tree')
  mkdirSync(join(tree, 'd'), { recursive: true })
  writeFileSync(join(tree, 'd/file'), 'x'.repeat(5000))
  writeFileSync(join(tree, 'other'), 'y')
  const packed = run(helper, ['pack', tree])
  expect(packed.status).toBe(0)
  sample = packed.stdout
})

afterAll(() => scratch.remove())

let targets = 0
/** A fresh target with a symlink `link` to a directory outside it, and `sub/link` too. */
function freshTarget(): string {
  const target = join(scratch.dir, `target-${targets++}`)
  mkdirSync(join(target, 'sub'), { recursive: true })
  symlinkSync(outside, join(target, 'link'))
  symlinkSync(outside, join(target, 'sub/link'))
  return target
}

const unpack = (archive: Buffer, target = freshTarget()) => run(helper, ['unpack', target], archive)
const file = (name: string, data = 'evil') => ({ header: { name }, data: Buffer.from(data) })

describe('unpack refuses, with exit 2 and a message naming the entry', () => {
  it.each([
    ['a name with a .. component', tarOf([file('../x')]), /\.\.\/x: '\.\.' component/],
    ['an absolute name', tarOf([file('/etc/transship-x')]), /\/etc\/transship-x: absolute name/],
    [
      'a pax path with a .. component',
      tarOf([{ ...file('fine'), pax: { path: 'a/../../x' } }]),
      /a\/\.\.\/\.\.\/x: '\.\.' component/,
    ],
    ['a NUL in a pax path', tarOf([{ ...file('fine'), pax: { path: 'a\0b' } }]), /NUL byte/],
    [
      'an entry under a symlinked parent',
      tarOf([file('link/x')]),
      /link\/x: a parent is a symlink/,
    ],
    ['an entry under a symlink deeper down', tarOf([file('sub/link/x')]), /a parent is a symlink/],
    [
      'a hard link to ../x',
      tarOf([{ header: { name: 'h', type: '1', linkname: '../x' } }]),
      /hard link target \.\.\/x: '\.\.' component/,
    ],
    [
      'a hard link through a symlinked parent',
      tarOf([{ header: { name: 'h', type: '1', linkname: 'link/x' } }]),
      /hard link target link\/x: a parent is a symlink/,
    ],
    ['ROOT replaced by a file', tarOf([file('.')]), /ROOT itself can only be a directory/],
    [
      'an unknown entry type',
      tarOf([{ header: { name: 'v', type: 'V' } }]),
      /unsupported entry type/,
    ],
  ])('%s', (_, archive, message) => {
    const r = unpack(archive)
    expect(r.stderr).toMatch(message)
    expect(r.status).toBe(2)
    expect(existsSync(join(outside, 'x'))).toBe(false)
    expect(existsSync('/etc/transship-x')).toBe(false)
  })
})

describe('unpack refuses a malformed stream with exit 2, naming the byte offset', () => {
  it('a stream cut short', () => {
    const r = unpack(sample.subarray(0, 3000))
    expect(r.stderr).toMatch(/malformed archive at byte 3000: unexpected end of input/)
    expect(r.status).toBe(2)
  })

  it('a stream without its end marker', () => {
    const r = unpack(sample.subarray(0, sample.length - 1024))
    expect(r.stderr).toMatch(/unexpected end of input \(no end-of-archive marker\)/)
    expect(r.status).toBe(2)
  })

  it('a bad header checksum', () => {
    const bad = Buffer.from(sample)
    bad.writeUInt8(bad.readUInt8(1024 + 10) ^ 1, 1024 + 10) // ROOT's ustar header, after its pax header
    const r = unpack(bad)
    expect(r.stderr).toMatch(/malformed archive at byte 1024: bad header checksum/)
    expect(r.status).toBe(2)
  })

  it('a pax record whose length is wrong', () => {
    const body = Buffer.from('99 path=x\n')
    const archive = Buffer.concat([
      ustarBlock({ name: 'PaxHeaders/x', type: 'x', size: body.length }),
      Buffer.concat([body, Buffer.alloc(512 - body.length)]),
      tarOf([file('x')]),
    ])
    const r = unpack(archive)
    expect(r.stderr).toMatch(/malformed archive at byte 512: bad pax record/)
    expect(r.status).toBe(2)
  })

  it('a lone zero block followed by a header', () => {
    const archive = Buffer.concat([Buffer.alloc(512), tarOf([file('x')])])
    expect(unpack(archive).status).toBe(2)
  })

  it('a GNU sparse 0.x entry', () => {
    const archive = Buffer.concat([paxBlocks({ 'GNU.sparse.size': '10' }), tarOf([file('x')])])
    const r = unpack(archive)
    expect(r.stderr).toMatch(/unsupported GNU sparse format/)
    expect(r.status).toBe(2)
  })
})

describe('unpack and its input', () => {
  it('exits after the end marker with stdin still open', async () => {
    const target = freshTarget()
    const r = await runKeepingStdinOpen(helper, ['unpack', target], sample)
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(r.stdout.toString()).toBe('ok 4 5001\n')
    expect(readFileSync(join(target, 'd/file'), 'utf8')).toBe('x'.repeat(5000))
  })

  it('ignores pax global headers', () => {
    const archive = Buffer.concat([
      ustarBlock({ name: 'pax_global_header', type: 'g', size: 0 }),
      sample,
    ])
    const r = unpack(archive)
    expect(r.status).toBe(0)
    expect(r.stdout.toString()).toBe('ok 4 5001\n')
  })

  it('exits 1 naming the path on an I/O error (a full file system)', () => {
    const target = join(scratch.dir, 'small-tmpfs')
    mkdirSync(target)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', target])
    try {
      // from a file: unpack stops reading at the error, which a pipe would report as EPIPE
      const archive = join(scratch.dir, 'big.tar')
      writeFileSync(archive, tarOf([file('big', 'z'.repeat(3 * MiB))]))
      const r = runFromFile(helper, ['unpack', target], archive)
      expect(r.stderr).toMatch(/write big: No space left on device/)
      expect(r.status).toBe(1)
    } finally {
      execFileSync('umount', [target])
    }
  })
})
