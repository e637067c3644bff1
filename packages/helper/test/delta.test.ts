import {
  appendFileSync,
  chmodSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  buildHelper,
  buildSampleTree,
  listTree,
  parseScan,
  run,
  runKeepingStdinOpen,
  scratchDir,
  setTime,
} from './support.js'

let helper: string
const scratch = scratchDir('delta')

beforeAll(() => {
  helper = buildHelper()
})

afterAll(() => scratch.remove())

const scanPaths = (root: string): string[] => {
  const r = run(helper, ['scan', root])
  expect(r.status).toBe(0)
  return parseScan(r.stdout).map((rec) => rec.path)
}

/** A full copy: pack ROOT | unpack TARGET. */
function copyTree(root: string, target: string): void {
  mkdirSync(target)
  const packed = run(helper, ['pack', root])
  expect(packed.status).toBe(0)
  const unpacked = run(helper, ['unpack', target], packed.stdout)
  expect(unpacked.stderr).toBe('')
  expect(unpacked.status).toBe(0)
}

/** The list --paths reads: NUL-terminated records and an empty one at the end. */
const listOf = (records: string[]): Buffer =>
  Buffer.concat([...records.map((r) => Buffer.from(`${r}\0`)), Buffer.from('\0')])

/** pack --paths with stdin left open after the list, then unpack of its output. */
async function applyDelta(root: string, target: string, records: string[]): Promise<Buffer> {
  const packed = await runKeepingStdinOpen(helper, ['pack', root, '--paths'], listOf(records))
  expect(packed.stderr).toBe('')
  expect(packed.status).toBe(0)
  const unpacked = run(helper, ['unpack', target], packed.stdout)
  expect(unpacked.stderr).toBe('')
  expect(unpacked.status).toBe(0)
  expect(unpacked.stdout.toString()).toMatch(new RegExp(`^ok ${records.length} \\d+\\n$`))
  return packed.stdout
}

const depth = (path: string) => path.split('/').length

describe('pack --paths as a delta over a first copy', () => {
  it('brings the copy to the source after every kind of change', async () => {
    const source = join(scratch.dir, 'source')
    const copy = join(scratch.dir, 'copy')
    mkdirSync(source)
    buildSampleTree(source)
    const before = scanPaths(source)
    copyTree(source, copy)

    const p = (rel: string) => join(source, rel)
    appendFileSync(p('dir/f5'), 'appended')
    const f6 = lstatSync(p('dir/f6'), { bigint: true })
    writeFileSync(p('dir/f6'), Buffer.alloc(Number(f6.size), 'z')) // same size, same mtime
    setTime(p('dir/f6'), `${f6.mtimeNs / 1_000_000_000n}.${f6.mtimeNs % 1_000_000_000n}`)
    renameSync(p('dir/f7'), p('dir/f7-renamed'))
    unlinkSync(p('dir/f8'))
    rmSync(p('dir/nested/deeper'), { recursive: true })
    chmodSync(p('small'), 0o600)
    lchownSync(p('owned'), 7, 8)
    truncateSync(p('dir/f9'), 3)
    unlinkSync(p('dir/f10')) // file -> directory
    mkdirSync(p('dir/f10'))
    writeFileSync(p('dir/f10/child'), 'inside')
    rmSync(p('empty'), { recursive: true }) // directory -> symlink
    symlinkSync('small', p('empty'))
    linkSync(p('dir/f11'), p('setgid/f11-link')) // a new hard link
    mkdirSync(p('brand/new'), { recursive: true })
    writeFileSync(p('brand/new/file'), 'new')

    const after = scanPaths(source)
    const gone = before.filter((path) => !after.includes(path))
    expect(gone).toEqual(expect.arrayContaining(['dir/f7', 'dir/f8', 'dir/nested/deeper']))
    const deletions = gone
      .sort((a, b) => depth(b) - depth(a))
      .map((path) => (path === 'dir/f8' ? `E${path}` : `D${path}`)) // E of a missing path
    const tar = await applyDelta(source, copy, [...deletions, ...after.map((path) => `E${path}`)])

    expect(tar.toString('latin1')).toMatch(/\d+ path=dir\/f8\n\d+ TRANSSHIP\.deleted=1\n/)
    const options = { symlinkTimes: true }
    expect(listTree(copy, options)).toEqual(listTree(source, options))
    expect(readFileSync(join(copy, 'dir/f6'), 'utf8')).toBe('z'.repeat(Number(f6.size)))
    expect(lstatSync(join(copy, 'setgid/f11-link')).ino).toBe(lstatSync(join(copy, 'dir/f11')).ino)
  })

  it('keeps the mtime of directories outside the stream whose content it changed', async () => {
    const source = join(scratch.dir, 'dirs-source')
    const copy = join(scratch.dir, 'dirs-copy')
    mkdirSync(join(source, 'd'), { recursive: true })
    mkdirSync(join(source, 'e'))
    writeFileSync(join(source, 'd/a'), 'first')
    writeFileSync(join(source, 'd/b'), 'second')
    setTime(join(source, 'd'), '1500000000.123456789')
    setTime(join(source, 'e'), '1500000001.987654321')
    copyTree(source, copy)
    const mtimes = () =>
      ['d', 'e', '.'].map((d) => statSync(join(copy, d), { bigint: true }).mtimeNs)
    const was = mtimes()
    expect(was.slice(0, 2)).toEqual([1500000000123456789n, 1500000001987654321n])

    writeFileSync(join(source, 'd/a.new'), 'replaced')
    renameSync(join(source, 'd/a.new'), join(source, 'd/a'))
    unlinkSync(join(source, 'd/b'))
    mkdirSync(join(source, 'e/sub'))
    writeFileSync(join(source, 'e/sub/file'), 'x') // e/sub: a missing parent, created
    await applyDelta(source, copy, ['Ed/a', 'Dd/b', 'Ee/sub/file'])

    expect(readFileSync(join(copy, 'd/a'), 'utf8')).toBe('replaced')
    expect(() => lstatSync(join(copy, 'd/b'))).toThrow(/ENOENT/)
    expect(readFileSync(join(copy, 'e/sub/file'), 'utf8')).toBe('x')
    expect(mtimes()).toEqual(was)
  })

  it('refuses a bad list: exit 2, naming the record', () => {
    const root = join(scratch.dir, 'dirs-source')
    for (const [records, message] of [
      [['E../x'], /'\.\.' component/],
      [['E/etc/passwd'], /absolute/],
      [['Xfile'], /expected E<path> or D<path>/],
      [['E'], /empty name/],
      [['D.'], /ROOT cannot be deleted/],
    ] as const) {
      const r = run(helper, ['pack', root, '--paths'], listOf([...records]))
      expect(r.status, records[0]).toBe(2)
      expect(r.stderr).toMatch(message)
    }
    const unterminated = run(helper, ['pack', root, '--paths'], 'Ed/a\0')
    expect(unterminated.status).toBe(2)
    expect(unterminated.stderr).toMatch(/stdin ended before the empty record/)
  })

  it('applies exclusions to the list', () => {
    const root = join(scratch.dir, 'dirs-source')
    const r = run(
      helper,
      ['pack', root, '--paths', '--exclude', 'd'],
      listOf(['Ed/a', 'Dd/b', 'Ee']),
    )
    expect(r.status).toBe(0)
    const text = r.stdout.toString('latin1')
    expect(text).toContain('path=e\n')
    expect(text).not.toContain('path=d/')
  })
})
