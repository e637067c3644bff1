import { TarFormatError } from '../archive/tarHeader.js'
import { TarScanner } from '../archive/tarScanner.js'
import { type HelperProcess, helperFailure, withHelperProcesses } from '../engine/helperProcess.js'
import { TransshipError } from '../errors.js'
import { entryFromPax, isDeletion } from '../precopy/treeEntry.js'
import { readerRun, scanTree, TREE, type TreeEnd, treeArgs } from '../precopy/treeSource.js'
import type { ListedEntry } from './compareTrees.js'

/**
 * Lists a tree for verification through transship's helper program: `scan --checksum`
 * (each regular file's sha256 computed by the helper, next to the data: nothing of the
 * content crosses the engine's API), then, for the symlinks it found, `pack --paths` of
 * those alone (headers only) for their targets.
 *
 * ## Example
 * ```ts
 * const entries = await listTree(volumeTree(a, program, image, 'data', true), signal)
 * ```
 *
 * @param end - the tree.
 * @param signal - aborts the helpers.
 * @return its entries, in the scan's order.
 * @throws TransshipError `HELPER_UNAVAILABLE`, `HELPER_FAILED`, `HELPER_OUTPUT_INVALID`.
 */
export async function listTree(end: TreeEnd, signal: AbortSignal): Promise<ListedEntry[]> {
  const entries: ListedEntry[] = []
  const symlinks: string[] = []
  await scanTree(end, { checksum: true, signal }, (entry) => {
    if (entry.type === '2') symlinks.push(entry.path)
    entries.push(entry)
  })
  if (symlinks.length === 0) return entries
  const packed = await packedSymlinks(end, symlinks, signal)
  return entries.flatMap((entry) => {
    if (entry.type !== '2') return [entry]
    // What pack saw, later than the scan: a symlink gone or replaced meanwhile counts as such.
    const seen = packed.get(entry.path)
    return seen ? [seen] : []
  })
}

/** Packs the symlinks at `paths` (headers only) and reads each one's entry and target. */
async function packedSymlinks(
  end: TreeEnd,
  paths: readonly string[],
  signal: AbortSignal,
): Promise<Map<string, ListedEntry>> {
  const found = new Map<string, ListedEntry>()
  const args = ['pack', TREE, '--paths', ...treeArgs(end).filter((arg) => arg !== '--xattrs')]
  const run = readerRun(end, 'read the symlinks of', args, signal)
  await withHelperProcesses([run], async ([pack]) => {
    const helper = pack as HelperProcess
    const list = paths.map((path) => `E${path}\0`).join('')
    helper.stdin.end(Buffer.from(`${list}\0`, 'latin1'))
    // Only read, never extracted: no guard, the scanner's framing checks alone.
    const scanner = new TarScanner(
      (member) => {
        if (isDeletion(member.pax)) return
        const entry = entryFromPax(member)
        found.set(
          member.name,
          member.type === '2' ? { ...entry, linkTarget: member.linkname } : entry,
        )
      },
      { sparse: true },
    )
    try {
      for await (const chunk of helper.stdout) scanner.scan(chunk as Buffer)
      scanner.end()
      await helper.exited
    } catch (error) {
      // The helper's own error when it failed (a cut archive is only its effect).
      const reported = await helperFailure(error, helper)
      if (!(reported instanceof TarFormatError)) throw reported
      throw new TransshipError(
        'HELPER_OUTPUT_INVALID',
        `the symlinks of ${end.describe}, as transship-helper packed them: ${reported.message}`,
        { cause: reported },
      )
    }
  })
  return found
}
