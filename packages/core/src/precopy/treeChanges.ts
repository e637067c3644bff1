import type { TreeEntry } from './treeEntry.js'

/** What changed in a tree between two looks at it. */
export interface TreeChanges {
  /** Paths gone since, deepest first, so that nothing is removed from under a later one. */
  readonly deleted: readonly string[]
  /** Paths new or changed since, in the scan's order (a directory before its entries). */
  readonly changed: readonly string[]
  /** The bytes the changed regular files hold, to decide whether another round pays. */
  readonly changedBytes: number
}

/**
 * Compares what a tree was (the entries last sent, by path) with a scan of it now. An entry
 * changed when its type, mode, owner, size, mtime, ctime, inode or link count differ, or
 * when it was racy when last sent (it changed within the clock tick of its `lstat`). ctime
 * is what catches a rewrite within the same second at the same size, and an mtime set back
 * on purpose: the kernel sets it on every change, and it cannot be set by a program.
 *
 * ## Example
 * ```ts
 * const { deleted, changed } = treeChanges(index, scanned)
 * ```
 *
 * With `checksum` (both looks carry each regular file's sha256), ctime is not compared:
 * a file changed when its content hash or any other of those fields differ.
 *
 * @param before - the entries as last sent, by path.
 * @param now - a scan of the tree, in the helper's order (pre-order, a directory first).
 * @param checksum - compare content hashes instead of ctimes.
 * @return the paths to delete and to send again.
 */
export function treeChanges(
  before: ReadonlyMap<string, TreeEntry>,
  now: readonly TreeEntry[],
  checksum = false,
): TreeChanges {
  const present = new Set<string>()
  const changed = new Set<string>()
  for (const entry of now) {
    present.add(entry.path)
    const old = before.get(entry.path)
    if (old === undefined || old.racy || !sameEntry(old, entry, checksum)) changed.add(entry.path)
  }
  // A file sent again replaces its path at the destination with a new file, which would
  // leave the other names of its inode linked to the old one: every name goes again, the
  // first as the file and the others as links to it.
  const relinked = new Set(
    now.filter((e) => isLinkedFile(e) && changed.has(e.path)).map((e) => e.ino),
  )
  const sent = now.filter((e) => changed.has(e.path) || (isLinkedFile(e) && relinked.has(e.ino)))
  // The bytes of each file once, however many of its names go.
  const files = new Map(
    sent
      .filter((e) => e.type === '0')
      .map((e) => [isLinkedFile(e) ? `inode ${e.ino}` : `path ${e.path}`, e.size]),
  )
  const changedBytes = [...files.values()].reduce((sum, size) => sum + size, 0)
  const deleted = [...before.keys()].filter((path) => !present.has(path))
  deleted.sort((a, b) => depth(b) - depth(a))
  return { deleted, changed: sent.map((e) => e.path), changedBytes }
}

function isLinkedFile(entry: TreeEntry): boolean {
  return entry.type === '0' && entry.nlink > 1
}

function sameEntry(a: TreeEntry, b: TreeEntry, checksum: boolean): boolean {
  return (
    a.type === b.type &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.size === b.size &&
    a.mtime === b.mtime &&
    (checksum ? a.sha256 === b.sha256 : a.ctime === b.ctime) &&
    a.ino === b.ino &&
    a.nlink === b.nlink
  )
}

function depth(path: string): number {
  let count = 0
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 0x2f) count++
  return count
}
