import type { TreeEntry } from '../precopy/treeEntry.js'

/** A tree entry as verification reads it: the scan's record, and a symlink's target. */
export interface ListedEntry extends TreeEntry {
  /** A symlink's target, raw bytes as latin1 characters. */
  readonly linkTarget?: string
}

/** What differs in one field of a path: its value on each side, as text. */
export interface FieldDifference {
  readonly field:
    | 'type'
    | 'mode'
    | 'owner'
    | 'mtime'
    | 'size'
    | 'content'
    | 'link target'
    | 'hard links'
  readonly source: string
  readonly target: string
}

/** One path that differs between the source's tree and the target's. */
export interface PathDifference {
  /** Relative to the tree's root (`.` is the root), raw bytes as latin1 characters. */
  readonly path: string
  /** `missing`: only the source has it; `added`: only the target has it; else `changed`. */
  readonly kind: 'missing' | 'added' | 'changed'
  /** For `changed`: what differs. */
  readonly fields: readonly FieldDifference[]
}

/** What {@link compareTrees} knows of the target. */
export interface CompareOptions {
  /**
   * When the target's last start began, in nanoseconds since the epoch: later changes are
   * its own. Absent when it never started.
   */
  readonly changedAfter?: bigint
  /**
   * Compare what a Docker image layer carries of a tree, for a copy made through one (the
   * engine's archive API): mtimes to the second, and the root without its mtime (a layer
   * has no entry for its root).
   */
  readonly imageLayer?: boolean
}

/** The differences between two trees, split by who made them. */
export interface TreeComparison {
  /** Paths that differ and that the target did not change since it started. */
  readonly differences: readonly PathDifference[]
  /** Paths that differ because the running target changed them since it started. */
  readonly changedByTarget: readonly PathDifference[]
}

/**
 * Compares a tree at the source with its copy at the target, path by path: type, mode,
 * owner, mtime (nanoseconds), a regular file's size and content hash, a symlink's target,
 * and which names a regular file shares its inode with (hard links). ctime and inode
 * numbers are not compared: no copy can keep them.
 *
 * Once the target has started (`changedAfter`: when its start began), a difference is the
 * target's own doing, and listed apart, when the target's entry has a ctime later than
 * that (the kernel sets ctime on every write, chmod, chown, link, rename and utime, and no
 * program can set it, while every write of the migration happened before the start), or,
 * for a path the target lacks, when the nearest directory above it that the target holds
 * has (removing a path changes its directory).
 *
 * ## Example
 * ```ts
 * const { differences } = compareTrees(sourceEntries, targetEntries)
 * if (differences.length > 0) console.log(differences[0].path)
 * ```
 *
 * @param source - the source's entries.
 * @param target - the target's entries.
 * @param options - `changedAfter`: when the target's last start began, in nanoseconds
 *   since the epoch (see `changedAfter.ts`), absent when it never started.
 * @return the differences, in path order.
 */
export function compareTrees(
  source: readonly ListedEntry[],
  target: readonly ListedEntry[],
  options: CompareOptions = {},
): TreeComparison {
  const { changedAfter } = options
  const targets = new Map(target.map((entry) => [entry.path, entry]))
  const sourceLinks = linkGroups(source)
  const targetLinks = linkGroups(target)
  const found: PathDifference[] = []
  for (const entry of source) {
    const copy = targets.get(entry.path)
    if (copy === undefined) {
      found.push({ path: entry.path, kind: 'missing', fields: [] })
      continue
    }
    const fields = fieldDifferences(
      entry,
      copy,
      sourceLinks,
      targetLinks,
      options.imageLayer ?? false,
    )
    if (fields.length > 0) found.push({ path: entry.path, kind: 'changed', fields })
  }
  const present = new Set(source.map((entry) => entry.path))
  for (const entry of target) {
    if (!present.has(entry.path)) found.push({ path: entry.path, kind: 'added', fields: [] })
  }
  found.sort((a, b) => comparePaths(a.path, b.path))
  if (changedAfter === undefined) return { differences: found, changedByTarget: [] }
  const since = (entry: ListedEntry | undefined) =>
    entry !== undefined && nanoseconds(entry.ctime) > changedAfter
  const byTarget = (d: PathDifference) =>
    since(d.kind === 'missing' ? nearestAncestor(targets, d.path) : targets.get(d.path))
  return {
    differences: found.filter((d) => !byTarget(d)),
    changedByTarget: found.filter(byTarget),
  }
}

function fieldDifferences(
  a: ListedEntry,
  b: ListedEntry,
  aLinks: ReadonlyMap<string, string>,
  bLinks: ReadonlyMap<string, string>,
  imageLayer: boolean,
): FieldDifference[] {
  const fields: FieldDifference[] = []
  const differ = (field: FieldDifference['field'], source: string, target: string) => {
    if (source !== target) fields.push({ field, source, target })
  }
  differ('type', TYPE_NAMES[a.type] ?? a.type, TYPE_NAMES[b.type] ?? b.type)
  differ('mode', a.mode.toString(8).padStart(4, '0'), b.mode.toString(8).padStart(4, '0'))
  differ('owner', `${a.uid}:${a.gid}`, `${b.uid}:${b.gid}`)
  const seconds = (time: string) => time.slice(0, time.indexOf('.'))
  if (!imageLayer) differ('mtime', a.mtime, b.mtime)
  else if (a.path !== '.') differ('mtime', seconds(a.mtime), seconds(b.mtime))
  if (a.type === '0' && b.type === '0') {
    differ('size', String(a.size), String(b.size))
    differ('content', `sha256 ${a.sha256 ?? '?'}`, `sha256 ${b.sha256 ?? '?'}`)
    differ('hard links', aLinks.get(a.path) ?? 'none', bLinks.get(b.path) ?? 'none')
  }
  if (a.type === '2' && b.type === '2') {
    differ('link target', JSON.stringify(a.linkTarget ?? ''), JSON.stringify(b.linkTarget ?? ''))
  }
  return fields
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  '0': 'file',
  '2': 'symlink',
  '3': 'character device',
  '4': 'block device',
  '5': 'directory',
  '6': 'FIFO',
}

/**
 * For each regular file that shares its inode with other names of the tree, those names
 * (all of them, in the tree's order): what must be the same on both sides.
 */
function linkGroups(entries: readonly ListedEntry[]): Map<string, string> {
  const byInode = new Map<string, string[]>()
  for (const entry of entries) {
    if (entry.type !== '0' || entry.nlink < 2) continue
    const names = byInode.get(entry.ino)
    if (names) names.push(entry.path)
    else byInode.set(entry.ino, [entry.path])
  }
  const groups = new Map<string, string>()
  for (const names of byInode.values()) {
    if (names.length < 2) continue
    const shown = names.map((name) => JSON.stringify(name)).join(', ')
    for (const name of names) groups.set(name, shown)
  }
  return groups
}

/**
 * The nearest directory above a path that the tree holds (`a/b/c` → `a/b`, else `a`, else
 * the root): whatever removed the path changed that directory's ctime.
 */
function nearestAncestor(
  entries: ReadonlyMap<string, ListedEntry>,
  path: string,
): ListedEntry | undefined {
  for (let slash = path.lastIndexOf('/'); slash !== -1; slash = path.lastIndexOf('/', slash - 1)) {
    const found = entries.get(path.slice(0, slash))
    if (found) return found
  }
  return entries.get('.')
}

/**
 * Orders paths as the helper's scan lists them: the root first, then depth-first, each
 * directory's entries bytewise by name.
 */
export function comparePaths(a: string, b: string): number {
  if (a === b) return 0
  if (a === '.') return -1
  if (b === '.') return 1
  const left = a.split('/')
  const right = b.split('/')
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const l = left[i] as string
    const r = right[i] as string
    if (l !== r) return l < r ? -1 : 1
  }
  return left.length - right.length
}

/** A helper time, `<seconds>.<9 digits>` (seconds floored, signed), in nanoseconds. */
export function nanoseconds(time: string): bigint {
  const [seconds = '0', fraction = '0'] = time.split('.')
  return BigInt(seconds) * 1_000_000_000n + BigInt(fraction.padEnd(9, '0').slice(0, 9))
}
