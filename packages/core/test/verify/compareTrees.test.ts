import { describe, expect, it } from 'vitest'
import { engineTimeOf } from '../../src/verify/changedAfter.js'
import {
  comparePaths,
  compareTrees,
  type ListedEntry,
  nanoseconds,
} from '../../src/verify/compareTrees.js'

const HASH = 'a'.repeat(64)
const OTHER = 'b'.repeat(64)
/** Before the target's start, below. */
const COPIED = '1700000000.000000000'
const STARTED = '2023-11-14T22:13:30.5Z'
/** After it. */
const LATER = '1700000011.000000001'

let inode = 100
const file = (path: string, changes: Partial<ListedEntry> = {}): ListedEntry => ({
  path,
  type: '0',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: 10,
  mtime: '1690000000.123456789',
  ctime: COPIED,
  ino: String(inode++),
  nlink: 1,
  racy: false,
  sha256: HASH,
  ...changes,
})
const dir = (path: string, changes: Partial<ListedEntry> = {}) =>
  file(path, { type: '5', mode: 0o755, size: 0, sha256: undefined, ...changes })
const symlink = (path: string, target: string, changes: Partial<ListedEntry> = {}) =>
  file(path, {
    type: '2',
    mode: 0o777,
    size: target.length,
    sha256: undefined,
    linkTarget: target,
    ...changes,
  })

/** The same tree as copied: other inodes and ctimes, the rest equal. */
const copyOf = (entries: ListedEntry[]) =>
  entries.map((entry) => ({ ...entry, ino: `9${entry.ino}`, ctime: '1700000005.000000000' }))

describe('compareTrees', () => {
  const tree = [dir('.'), dir('d'), file('d/a'), symlink('d/link', 'a'), file('z')]

  it('finds nothing in an exact copy, whatever its inodes and ctimes', () => {
    expect(compareTrees(tree, copyOf(tree))).toEqual({ differences: [], changedByTarget: [] })
  })

  it('names each field that differs, source value first', () => {
    const copy = copyOf(tree).map((entry) => {
      if (entry.path === 'd/a') return { ...entry, sha256: OTHER, mode: 0o600, uid: 1000 }
      if (entry.path === 'd/link') return { ...entry, linkTarget: 'b' }
      if (entry.path === 'z') return { ...entry, mtime: '1690000000.123456780', size: 11 }
      return entry
    })
    const { differences } = compareTrees(tree, copy)
    expect(differences).toEqual([
      {
        path: 'd/a',
        kind: 'changed',
        fields: [
          { field: 'mode', source: '0644', target: '0600' },
          { field: 'owner', source: '0:0', target: '1000:0' },
          { field: 'content', source: `sha256 ${HASH}`, target: `sha256 ${OTHER}` },
        ],
      },
      {
        path: 'd/link',
        kind: 'changed',
        fields: [{ field: 'link target', source: '"a"', target: '"b"' }],
      },
      {
        path: 'z',
        kind: 'changed',
        fields: [
          { field: 'mtime', source: '1690000000.123456789', target: '1690000000.123456780' },
          { field: 'size', source: '10', target: '11' },
        ],
      },
    ])
  })

  it('finds paths missing on either side, and a changed type, in tree order', () => {
    const copy = copyOf(tree)
      .filter((entry) => entry.path !== 'd/a')
      .map((entry) => (entry.path === 'z' ? dir('z') : entry))
    copy.push(file('d/new'))
    const { differences } = compareTrees(tree, copy)
    expect(differences.map((d) => [d.path, d.kind])).toEqual([
      ['d/a', 'missing'],
      ['d/new', 'added'],
      ['z', 'changed'],
    ])
    expect(differences[2]?.fields).toContainEqual({
      field: 'type',
      source: 'file',
      target: 'directory',
    })
  })

  it('compares hard links by the names that share an inode', () => {
    const linked = [dir('.'), file('a', { ino: '7', nlink: 2 }), file('b', { ino: '7', nlink: 2 })]
    const apart = [dir('.'), file('a', { ino: '8' }), file('b', { ino: '9' })]
    const { differences } = compareTrees(linked, apart)
    expect(differences.map((d) => d.fields)).toEqual([
      [{ field: 'hard links', source: '"a", "b"', target: 'none' }],
      [{ field: 'hard links', source: '"a", "b"', target: 'none' }],
    ])
    // The same groups under other inode numbers are equal.
    const relinked = linked.map((entry) => (entry.type === '0' ? { ...entry, ino: '70' } : entry))
    expect(compareTrees(linked, relinked).differences).toEqual([])
  })

  it('lists apart what the target changed after its start, by ctime', () => {
    const copy = copyOf(tree).map((entry) => {
      // The target wrote d/a, and removed z (which moved the root's ctime).
      if (entry.path === 'd/a') return { ...entry, sha256: OTHER, ctime: LATER }
      if (entry.path === '.') return { ...entry, mtime: LATER, ctime: LATER }
      // Changed before the start: the migration's doing.
      if (entry.path === 'd/link') return { ...entry, linkTarget: 'b' }
      return entry
    })
    copy.push(file('d/log', { ctime: LATER }))
    const result = compareTrees(
      tree,
      copy.filter((entry) => entry.path !== 'z'),
      { changedAfter: engineTimeOf(STARTED) },
    )
    expect(result.differences.map((d) => d.path)).toEqual(['d/link'])
    expect(result.changedByTarget.map((d) => [d.path, d.kind])).toEqual([
      ['.', 'changed'],
      ['d/a', 'changed'],
      ['d/log', 'added'],
      ['z', 'missing'],
    ])
  })

  it('compares what an image layer carries: mtimes to the second, the root without one', () => {
    const copy = copyOf(tree).map((entry) => ({
      ...entry,
      mtime: entry.path === '.' ? '1700000009.000000000' : '1690000000.000000000',
    }))
    expect(compareTrees(tree, copy).differences).toHaveLength(tree.length)
    expect(compareTrees(tree, copy, { imageLayer: true }).differences).toEqual([])
    const later = copy.map((entry) => ({ ...entry, mtime: '1690000001.000000000' }))
    expect(compareTrees(tree, later, { imageLayer: true }).differences).toHaveLength(
      tree.length - 1,
    )
  })

  it('counts everything when the target never started', () => {
    const copy = copyOf(tree).map((entry) =>
      entry.path === 'z' ? { ...entry, sha256: OTHER, ctime: LATER } : entry,
    )
    expect(compareTrees(tree, copy).differences.map((d) => d.path)).toEqual(['z'])
  })
})

describe('comparePaths', () => {
  it('orders as the helper scans: the root, then depth first, names bytewise', () => {
    const paths = ['a.c', 'a/b', '.', 'a', '-x', 'a/b/c', 'b']
    expect(paths.sort(comparePaths)).toEqual(['.', '-x', 'a', 'a/b', 'a/b/c', 'a.c', 'b'])
  })
})

describe('times', () => {
  it('reads helper times, before 1970 too', () => {
    expect(nanoseconds('1.000000002')).toBe(1_000_000_002n)
    expect(nanoseconds('-2.500000000')).toBe(-1_500_000_000n)
  })

  it("reads an engine's start time with nanoseconds, and none for a container that never ran", () => {
    expect(engineTimeOf('2023-11-14T22:13:20.123456789Z')).toBe(1_700_000_000_123_456_789n)
    expect(engineTimeOf('2023-11-14T22:13:20Z')).toBe(1_700_000_000_000_000_000n)
    expect(engineTimeOf('0001-01-01T00:00:00Z')).toBeUndefined()
  })
})
