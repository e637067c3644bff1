import { describe, expect, it } from 'vitest'
import { treeChanges } from '../../src/precopy/treeChanges.js'
import { parseScanRecord, type TreeEntry } from '../../src/precopy/treeEntry.js'

const file = (path: string, changes: Partial<TreeEntry> = {}): TreeEntry => ({
  path,
  type: '0',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: 10,
  mtime: '1700000000.000000000',
  ctime: '1700000000.000000000',
  ino: '12',
  nlink: 1,
  racy: false,
  ...changes,
})
const dir = (path: string, changes: Partial<TreeEntry> = {}) =>
  file(path, { type: '5', mode: 0o755, size: 0, ...changes })
const index = (...entries: TreeEntry[]) => new Map(entries.map((entry) => [entry.path, entry]))

describe('treeChanges', () => {
  it('finds nothing in a tree that did not change', () => {
    const entries = [dir('.'), file('a'), dir('d'), file('d/b')]
    expect(treeChanges(index(...entries), entries)).toEqual({
      deleted: [],
      changed: [],
      changedBytes: 0,
    })
  })

  it.each<[string, Partial<TreeEntry>]>([
    ['a rewrite in the same second at the same size (ctime)', { ctime: '1700000000.000000001' }],
    [
      'an mtime set back on purpose (ctime moves anyway)',
      { mtime: '1600000000.000000000', ctime: '1700000001.000000000' },
    ],
    ['a chmod', { mode: 0o4755 }],
    ['a chown', { uid: 1000 }],
    ['a truncation', { size: 0 }],
    ['a replacement by rename (another inode)', { ino: '99' }],
    ['a new hard link (link count)', { nlink: 2 }],
    ['a type change', { type: '2' }],
  ])('sees %s', (_, change) => {
    const before = index(dir('.'), file('a'))
    const result = treeChanges(before, [dir('.'), file('a', change)])
    expect(result.changed).toEqual(['a'])
    expect(result.deleted).toEqual([])
  })

  it('sends an entry again when it was racy when sent, though nothing differs now', () => {
    const before = index(dir('.'), file('a', { racy: true }))
    expect(treeChanges(before, [dir('.'), file('a')]).changed).toEqual(['a'])
  })

  it('with checksum, compares content hashes instead of ctimes', () => {
    const hashed = (sha: string, changes: Partial<TreeEntry> = {}) =>
      file('a', { sha256: sha.repeat(64), ...changes })
    const before = index(dir('.'), hashed('1'))
    const touchedOnly = [dir('.'), hashed('1', { ctime: '1800000000.000000000' })]
    expect(treeChanges(before, touchedOnly, true).changed).toEqual([])
    expect(treeChanges(before, touchedOnly, false).changed).toEqual(['a'])
    expect(treeChanges(before, [dir('.'), hashed('2')], true).changed).toEqual(['a'])
  })

  it('sends every name of a hard-linked file again when one of them changed, its bytes once', () => {
    const linked = (path: string, changes: Partial<TreeEntry> = {}) =>
      file(path, { ino: '40', nlink: 3, size: 6, ...changes })
    const before = index(
      dir('.', { ino: '2' }),
      linked('a', { racy: true }),
      linked('b'),
      file('m', { ino: '41' }),
      linked('c'),
    )
    const now = [
      dir('.', { ino: '2' }),
      linked('a'),
      linked('b'),
      file('m', { ino: '41' }),
      linked('c'),
    ]
    const result = treeChanges(before, now)
    expect(result.changed).toEqual(['a', 'b', 'c'])
    expect(result.changedBytes).toBe(6)
  })

  it('lists deletions deepest first and changes in scan order, counting changed file bytes', () => {
    const before = index(dir('.'), dir('d'), file('d/x'), dir('d/e'), file('d/e/y'), file('z'))
    const now = [dir('.', { ctime: '2.000000000' }), file('n', { size: 7 }), file('z', { size: 5 })]
    const result = treeChanges(before, now)
    expect(result.deleted.slice(0, 1)).toEqual(['d/e/y'])
    expect(result.deleted.at(-1)).toEqual('d')
    expect(new Set(result.deleted)).toEqual(new Set(['d', 'd/x', 'd/e', 'd/e/y']))
    expect(result.changed).toEqual(['.', 'n', 'z'])
    expect(result.changedBytes).toBe(12)
  })
})

describe('parseScanRecord', () => {
  it('reads every field, the path last with its spaces', () => {
    expect(parseScanRecord('0 4755 1000 50 12 1.000000005 2.000000007 99 2 1 a b/c d')).toEqual({
      path: 'a b/c d',
      type: '0',
      mode: 0o4755,
      uid: 1000,
      gid: 50,
      size: 12,
      mtime: '1.000000005',
      ctime: '2.000000007',
      ino: '99',
      nlink: 2,
      racy: true,
    })
  })

  it('reads the sha256 field of a scan with --checksum, `-` for what is not a file', () => {
    const sha = 'ab'.repeat(32)
    expect(
      parseScanRecord(`0 644 0 0 1 1.000000000 1.000000000 9 1 0 ${sha} f g`, true),
    ).toMatchObject({
      path: 'f g',
      sha256: sha,
    })
    expect(
      parseScanRecord('5 755 0 0 0 1.000000000 1.000000000 9 2 0 - d', true),
    ).not.toHaveProperty('sha256')
    expect(() => parseScanRecord('0 644 0 0 1 1.000000000 1.000000000 9 1 0 - f', true)).toThrow(
      /cannot be read/,
    )
  })

  it.each([
    '',
    '0 644 0 0 1 1.0 1.0 1 1 0 x',
    '9 644 0 0 1 1.000000000 1.000000000 1 1 0 x',
    '0 644 0 0',
  ])('refuses a malformed record %j', (record) => {
    expect(() => parseScanRecord(record)).toThrow(/HELPER_OUTPUT_INVALID|cannot be read/)
  })
})
