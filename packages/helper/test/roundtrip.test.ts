import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  allocated,
  buildHelper,
  buildSampleTree,
  listTree,
  MiB,
  parseScan,
  run,
  runFromFile,
  runToFile,
  scratchDir,
} from './support.js'

let helper: string
const scratch = scratchDir('roundtrip')
const source = join(scratch.dir, 'source')
const archive = join(scratch.dir, 'pack.tar')

beforeAll(() => {
  helper = buildHelper()
  mkdirSync(source)
  buildSampleTree(source, { xattrs: true })
  const packed = runToFile(helper, ['pack', source, '--xattrs'], archive)
  expect(packed.stderr).toBe('')
  expect(packed.status).toBe(0)
})

afterAll(() => scratch.remove())

/** Sparse files must arrive sparse: 1 MiB of data, not 101 MiB. */
function expectStillSparse(root: string): void {
  expect(allocated(join(root, 'sparse'))).toBeLessThanOrEqual(2 * MiB)
  expect(allocated(join(root, 'all-hole'))).toBe(0)
}

describe('pack | unpack', () => {
  it('rebuilds the tree: types, modes, owners, ns mtimes, links, content, holes, xattrs', () => {
    const target = join(scratch.dir, 'unpacked')
    mkdirSync(target)
    const unpacked = runFromFile(helper, ['unpack', target, '--xattrs'], archive)
    expect(unpacked.stderr).toBe('')
    expect(unpacked.status).toBe(0)
    const entries = listTree(source).length
    expect(unpacked.stdout.toString()).toMatch(new RegExp(`^ok ${entries} \\d+\\n$`))
    const options = { xattrs: true, symlinkTimes: true }
    expect(listTree(target, options)).toEqual(listTree(source, options))
    expectStillSparse(target)
  })

  it('writes the metadata records pack promises in each entry', () => {
    const tar = readFileSync(archive)
    const text = tar.toString('latin1')
    const has = (pattern: string | RegExp) =>
      typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text)
    const promised = [
      'path=with\nnewline\n',
      /\d+ mtime=-1\.500000000\n/, // 'small', set to 1969-12-31T23:59:58.5
      /\d+ uid=3000000\n\d+ gid=4000000\n/,
      /\d+ TRANSSHIP\.ctime=\d+\.\d{9}\n\d+ TRANSSHIP\.ino=\d+\n/,
      /\d+ TRANSSHIP\.nlink=3\n\d+ TRANSSHIP\.racy=[01]\n/,
      /\d+ path=dir\/linked\n\d+ linkpath=another-name\n/, // the first path emitted
      'SCHILY.xattr.trusted.overlay.opaque=y\n',
      /\d+ path=\.\/GNUSparseFile\.0\/sparse\n22 GNU\.sparse\.major=1\n22 GNU\.sparse\.minor=0\n\d+ GNU\.sparse\.name=sparse\n/,
    ]
    expect(promised.filter((p) => !has(p))).toEqual([])
    expect(tar.length % 512).toBe(0)
    expect(tar.subarray(tar.length - 1024).equals(Buffer.alloc(1024))).toBe(true)
  })

  it('leaves out excluded paths', () => {
    const target = join(scratch.dir, 'excluded')
    mkdirSync(target)
    const tarFile = join(scratch.dir, 'excluded.tar')
    expect(runToFile(helper, ['pack', source, '--exclude', 'dir'], tarFile).status).toBe(0)
    expect(runFromFile(helper, ['unpack', target], tarFile).status).toBe(0)
    const expected = listTree(source, { dirTimes: false }).filter((l) => !l.startsWith('"dir'))
    // another-name lost its group mates in dir/
    expect(listTree(target, { dirTimes: false })).toEqual(
      expected.map((l) => l.replace(/ links=3 group="another-name"/, '')),
    )
  })
})

describe('GNU tar 1.34 and pack', () => {
  const tarOptions = ['--xattrs', '--xattrs-include=*', '--pax-option=delete=TRANSSHIP.*']

  it('tar -x reads what pack writes, sparse files included', () => {
    const target = join(scratch.dir, 'by-gnu-tar')
    mkdirSync(target)
    const r = spawnSync('tar', ['-x', ...tarOptions, '-f', archive, '-C', target])
    // GNU tar warns about any time before 1970 (and misprints -1.5 as 23:59:59.5)
    expect(r.stderr.toString()).toMatch(/^(tar: small: implausibly old time stamp .*\n)?$/)
    expect(r.status).toBe(0)
    const options = { xattrs: true, symlinkTimes: false }
    expect(listTree(target, options)).toEqual(listTree(source, options))
    expectStillSparse(target)
  })

  it('unpack reads what tar --posix -S -c writes, to the same tree', () => {
    const gnuArchive = join(scratch.dir, 'gnu.tar')
    execFileSync('tar', ['--posix', '-S', ...tarOptions, '-c', '-f', gnuArchive, '-C', source, '.'])
    const target = join(scratch.dir, 'from-gnu-tar')
    mkdirSync(target)
    const r = runFromFile(helper, ['unpack', target, '--xattrs'], gnuArchive)
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const options = { xattrs: true, symlinkTimes: true }
    expect(listTree(target, options)).toEqual(listTree(source, options))
    expectStillSparse(target)
  })
})

describe('mounts beneath ROOT', () => {
  it('are skipped with a warning, a bind mount of the same file system too', () => {
    const root = join(scratch.dir, 'with-mounts')
    mkdirSync(join(root, 'tmpfs'), { recursive: true })
    mkdirSync(join(root, 'bind'))
    mkdirSync(join(root, 'plain'))
    writeFileSync(join(root, 'plain/file'), 'x')
    const mounted: string[] = []
    try {
      execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', join(root, 'tmpfs')])
      mounted.push(join(root, 'tmpfs'))
      execFileSync('mount', ['--bind', join(root, 'plain'), join(root, 'bind')])
      mounted.push(join(root, 'bind'))
      writeFileSync(join(root, 'tmpfs/inside'), 'y')
      const scan = run(helper, ['scan', root])
      expect(scan.status).toBe(0)
      expect(parseScan(scan.stdout).map((r) => r.path)).toEqual(['.', 'plain', 'plain/file'])
      expect(scan.stderr).toBe(
        'warning: bind: another file system, skipped\nwarning: tmpfs: another file system, skipped\n',
      )
      const pack = run(helper, ['pack', root])
      expect(pack.status).toBe(0)
      expect(pack.stderr).toContain('warning: tmpfs: another file system, skipped')
      expect(pack.stdout.toString('latin1')).not.toContain('inside')
    } finally {
      for (const m of mounted.reverse()) execFileSync('umount', [m])
    }
  })
})
