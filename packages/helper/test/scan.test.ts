import { execFileSync } from 'node:child_process'
import { lstatSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  buildHelper,
  buildSampleTree,
  floorTime,
  parseScan,
  run,
  type ScanRecord,
  scratchDir,
} from './support.js'

let helper: string
const scratch = scratchDir('scan')
let records: Map<string, ScanRecord>
const tree = join(scratch.dir, 'tree')

beforeAll(async () => {
  helper = buildHelper()
  mkdirSync(tree)
  buildSampleTree(tree)
  // a socket: not carried, so not listed
  execFileSync('python3', [
    '-c',
    'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])',
    join(tree, 'socket'),
  ])
  await sleep(2100) // every ctime so far is now more than 2 s old
  writeFileSync(join(tree, 'fresh'), 'just written')
  const out = run(helper, ['scan', tree])
  expect(out.stderr).toBe('')
  expect(out.status).toBe(0)
  records = new Map(parseScan(out.stdout).map((r) => [r.path, r]))
})

afterAll(() => scratch.remove())

const get = (path: string): ScanRecord => {
  const r = records.get(path)
  if (!r) throw new Error(`no scan record for ${JSON.stringify(path)}`)
  return r
}

describe('scan', () => {
  it('lists every entry but sockets, pre-order, names sorted bytewise, ROOT as "."', () => {
    const paths = [...records.keys()]
    expect(paths[0]).toBe('.')
    expect(paths).not.toContain('socket')
    expect(paths).toContain('with\nnewline')
    expect(paths).toContain('with space')
    expect(paths).toContain('café ☕')
    // pre-order: a directory right before its first child
    expect(paths.indexOf('dir')).toBe(paths.indexOf('dir/f0') - 1)
    const top = paths.filter((p) => p !== '.' && !p.includes('/'))
    const sorted = [...top].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    expect(top).toEqual(sorted)
  })

  it('gives the tar type of each kind of entry', () => {
    expect(get('small').type).toBe('0')
    expect(get('dir/relative-link').type).toBe('2')
    expect(get('null-device').type).toBe('3')
    expect(get('dir').type).toBe('5')
    expect(get('fifo').type).toBe('6')
  })

  it('gives mode bits with setuid, setgid and sticky, owners, sizes, inodes and links', () => {
    expect(get('setuid').mode).toBe(0o4755)
    expect(get('setgid').mode).toBe(0o2775)
    expect(get('sticky').mode).toBe(0o1777)
    expect(get('owned')).toMatchObject({ uid: 1234, gid: 5678, size: 1n })
    expect(get('big-ids')).toMatchObject({ uid: 3_000_000, gid: 4_000_000 })
    expect(get('dir/relative-link').size).toBe(BigInt('../small'.length))
    expect(get('dir').size).toBe(0n)
    expect(get('sparse').size).toBe(101n * 1024n * 1024n)
    const linked = get('dir/linked')
    expect(linked.nlink).toBe(3)
    expect(get('another-name').ino).toBe(linked.ino)
    expect(linked.ino).toBe(lstatSync(join(tree, 'dir/linked'), { bigint: true }).ino)
  })

  it('gives mtime and ctime with nanoseconds, before 1970 too (seconds floored)', () => {
    for (const path of ['dir', 'owned', 'fifo', 'dir/relative-link', '.']) {
      const st = lstatSync(join(tree, path), { bigint: true })
      expect(get(path).mtime).toBe(floorTime(st.mtimeNs))
      expect(get(path).ctime).toBe(floorTime(st.ctimeNs))
    }
    expect(get('small').mtime).toBe('-2.500000000')
  })

  it('marks entries racy when their ctime is less than 2 s old', () => {
    expect(get('fresh').racy).toBe(true)
    expect(get('small').racy).toBe(false)
    expect(get('dir').racy).toBe(false)
    expect(get('.').racy).toBe(true) // its content just changed
  })

  it('leaves out excluded paths and what is beneath them', () => {
    const out = run(helper, ['scan', tree, '--exclude', 'dir/nested', '--exclude=./small'])
    expect(out.status).toBe(0)
    const paths = parseScan(out.stdout).map((r) => r.path)
    expect(paths).toContain('dir')
    expect(paths).toContain('dir/linked')
    expect(paths.filter((p) => p.startsWith('dir/nested'))).toEqual([])
    expect(paths).not.toContain('small')
  })

  it('refuses bad usage with exit 2 and a message', () => {
    const missing = run(helper, ['scan', join(scratch.dir, 'missing')])
    expect(missing.status).toBe(2)
    expect(missing.stderr).toMatch(/missing.*No such file or directory/)
    expect(run(helper, ['scan']).status).toBe(2)
    expect(run(helper, ['scan', tree, '--bogus']).status).toBe(2)
    expect(run(helper, ['scan', tree, '--exclude', '../x']).status).toBe(2)
    const viaSymlink = run(helper, ['scan', join(tree, 'dir/relative-link')])
    expect(viaSymlink.status).toBe(2)
    expect(viaSymlink.stderr).toMatch(/symlink/)
  })
})
