import { pipeline, type Readable } from 'node:stream'
import type Dockerode from 'dockerode'
import { type ArtifactDigest, hashingStream } from '../archive/hashingStream.js'
import { rootTarGuard } from '../archive/rootTarGuard.js'
import type { TarEntry } from '../archive/tarScanner.js'
import type { EngineClient } from '../engine/client.js'
import {
  type HelperProcess,
  type HelperProcessRun,
  helperFailure,
  withHelperProcesses,
} from '../engine/helperProcess.js'
import { messageOf, TransshipError } from '../errors.js'
import { meter } from '../pipeline/meter.js'
import { type TreeChanges, treeChanges } from './treeChanges.js'
import { entryFromPax, isDeletion, parseScanRecord, type TreeEntry } from './treeEntry.js'

/** Where helper containers mount the tree. */
export const TREE = '/tree'
/** Reading every file and directory, whatever its mode. */
const READ = ['DAC_READ_SEARCH']

/** A directory tree on an engine, reached by transship's helper program in containers. */
export interface TreeEnd {
  readonly engine: EngineClient
  /** The helper program's path on this machine, built for the engine's architecture. */
  readonly program: string
  /** An image the engine holds, for the helper containers. */
  readonly image: string
  /** The tree, mounted at `target` (read-only where it is read). */
  readonly mount: (target: string) => Dockerode.MountSettings
  /** What the tree is, for messages, e.g. `volume data on unix:///…`. */
  readonly describe: string
  /** Paths left out, relative to the tree's root, with what is beneath them. */
  readonly exclude?: readonly string[]
  /**
   * Carry extended attributes, `trusted.*` included (overlayfs' opaque directories): the
   * helper containers get `SYS_ADMIN`, which reading and writing those needs.
   */
  readonly xattrs?: boolean
}

/**
 * The helper program's options for a tree: its exclusions, extended attributes.
 *
 * @param end - the tree.
 * @return the arguments that follow the command and the root.
 */
export function treeArgs(end: TreeEnd): string[] {
  return [
    ...(end.xattrs ? ['--xattrs'] : []),
    ...(end.exclude ?? []).flatMap((path) => ['--exclude', path]),
  ]
}

/** The capabilities a helper container needs for a tree, besides its command's own. */
export function treeCapabilities(end: TreeEnd, own: readonly string[]): string[] {
  return end.xattrs ? [...own, 'SYS_ADMIN'] : [...own]
}

/** One round's archive, as a sink receives it. */
export interface RoundArchive {
  /** The archive, checked as it streams (names, links, format); it ends with the round. */
  readonly stream: Readable
  /** 0 for the full copy, then 1, 2, … */
  readonly round: number
  /** Members checked so far: all of them once the stream has ended. */
  readonly members: () => number
  /** The archive's size and sha256, once the stream has ended. */
  readonly digest: () => Promise<ArtifactDigest>
  readonly signal: AbortSignal
}

/** Where a round's archive goes: into a tree at the destination, into a transport, or both. */
export type TreeSink = (archive: RoundArchive) => Promise<void>

/** What one round sent. */
export interface RoundResult {
  /** 0 for the full copy, then 1, 2, … */
  readonly round: number
  /** Entries sent (deletions included); 0 when nothing changed, and nothing was sent. */
  readonly entries: number
  /** The archive sent, when one was. */
  readonly digest?: ArtifactDigest
  /** Bytes of the regular files that changed (what the next round may expect). */
  readonly changedBytes: number
}

/** Rounds while the source runs, after the first: each sends what changed during the last. */
const MAX_LIVE_ROUNDS = 3
/** Changes smaller than this are left to the round after the freeze. */
const LIVE_ROUND_BYTES = 8 * 1024 * 1024

/** What a round reports as it goes. */
export interface RoundContext {
  readonly signal: AbortSignal
  /** Bytes sent so far in this round. */
  readonly progress: (bytesDone: number, bytesTotal?: number) => void
}

/**
 * A directory tree at the source (a volume), sent round by round by transship's helper
 * program: the first round packs everything, while the source may still change it; each
 * later round scans the tree and packs only what changed since the round before (new,
 * changed and deleted entries, metadata included), so that the round after the freeze
 * leaves the copy equal to the frozen tree. It remembers each entry as it was packed (its
 * `lstat`, taken before its content was read) to compare with the next scan. Where each
 * round's archive goes is the sink's business.
 *
 * ## Example
 * ```ts
 * const tree = new TreeSource(volumeOnA)
 * await tree.full(unpackInto(volumeOnB), context)    // the source still runs
 * await stopTheSource()
 * await tree.delta(unpackInto(volumeOnB), context)   // only what changed
 * ```
 */
export class TreeSource {
  readonly #from: TreeEnd
  readonly #checksum: boolean
  /** Every entry as last sent, by path. */
  readonly #sent = new Map<string, TreeEntry>()
  #rounds = 0
  #completed = 0

  /**
   * @param from - the tree at the source.
   * @param options - `checksum`: compare each regular file's content hash (the helper
   *   reads every file once more for it) instead of its ctime.
   */
  constructor(from: TreeEnd, options: { readonly checksum?: boolean } = {}) {
    this.#from = from
    this.#checksum = options.checksum ?? false
  }

  /** The helper's options for this tree: its own, and `--checksum`. */
  #args(): string[] {
    return [...treeArgs(this.#from), ...(this.#checksum ? ['--checksum'] : [])]
  }

  /** Rounds begun so far, the full copy included. */
  get rounds(): number {
    return this.#rounds
  }

  /** Whether a round reached its sink in full: the destination holds some of the tree. */
  get copied(): boolean {
    return this.#completed > 0
  }

  /**
   * Sends the whole tree.
   *
   * @param sink - where the archive goes.
   * @param context - abort signal and progress.
   * @return what was sent.
   */
  async full(sink: TreeSink, context: RoundContext): Promise<RoundResult> {
    const round = this.#rounds++
    const digest = await this.#send(
      ['pack', TREE, ...this.#args()],
      undefined,
      round,
      sink,
      context,
    )
    return { round, entries: this.#sent.size, digest, changedBytes: digest.size }
  }

  /**
   * The pre-copy while the source runs: the whole tree, then, while what changed during
   * the last round is large (8 MiB or more) and shrinking by half, that again, at most 3
   * more rounds; the rest is left to the round after the freeze.
   *
   * @param sink - where the archives go.
   * @param context - abort signal and progress, per round (`round` 0 is the full copy).
   * @return what each round sent.
   */
  async precopy(sink: TreeSink, context: (round: number) => RoundContext): Promise<RoundResult[]> {
    let last = await this.full(sink, context(0))
    const results = [last]
    for (let live = 1; live <= MAX_LIVE_ROUNDS; live++) {
      const result = await this.delta(sink, context(live))
      results.push(result)
      const shrinking = result.changedBytes < last.changedBytes / 2
      last = result
      if (result.changedBytes < LIVE_ROUND_BYTES || !shrinking) break
    }
    return results
  }

  /**
   * Scans the tree and sends what changed since the last round; nothing when nothing did.
   *
   * @param sink - where the archive goes.
   * @param context - abort signal and progress.
   * @return what was sent.
   */
  async delta(sink: TreeSink, context: RoundContext): Promise<RoundResult> {
    const changes = treeChanges(this.#sent, await this.#scan(context.signal), this.#checksum)
    const entries = changes.deleted.length + changes.changed.length
    if (entries === 0) return { round: this.#rounds, entries, changedBytes: 0 }
    const round = this.#rounds++
    for (const path of changes.deleted) this.#sent.delete(path)
    const args = ['pack', TREE, '--paths', ...this.#args()]
    const digest = await this.#send(args, changes, round, sink, context)
    return { round, entries, digest, changedBytes: changes.changedBytes }
  }

  /**
   * {@link precopy}, or nothing when the helper program cannot run on an engine (the
   * engine refuses its container) before any round was copied: the tree is then left to
   * a whole copy through the archive API after the freeze, with a warning that says so.
   * Once a round has reached the destination, such a failure fails the pre-copy.
   *
   * @param sink - where the archives go.
   * @param context - as for {@link precopy}.
   * @param warn - the stage's warning.
   * @return what each round sent, or `undefined` when nothing was.
   */
  async precopyIfHelperRuns(
    sink: TreeSink,
    context: (round: number) => RoundContext,
    warn: (message: string) => void,
  ): Promise<RoundResult[] | undefined> {
    try {
      return await this.precopy(sink, context)
    } catch (error) {
      if (!(error instanceof TransshipError && error.code === 'HELPER_UNAVAILABLE') || this.copied)
        throw error
      warn(`${messageOf(error)}; ${this.#from.describe} is copied whole after the freeze instead`)
      return undefined
    }
  }

  async #scan(signal: AbortSignal): Promise<TreeEntry[]> {
    const entries: TreeEntry[] = []
    await scanTree(this.#from, { checksum: this.#checksum, signal }, (entry) => entries.push(entry))
    return entries
  }

  /** Runs pack at the source, and hands the checked archive to the sink. */
  async #send(
    args: readonly string[],
    changes: TreeChanges | undefined,
    round: number,
    sink: TreeSink,
    context: RoundContext,
  ): Promise<ArtifactDigest> {
    const { signal } = context
    return withHelperProcesses([readerRun(this.#from, 'pack', args, signal)], async ([pack]) => {
      const helper = pack as HelperProcess
      if (changes) helper.stdin.write(pathList(changes))
      let members = 0
      const hashing = hashingStream()
      const stream = pipeline(
        helper.stdout,
        rootTarGuard(`${this.#from.describe}, as transship-helper packed it`, {
          helper: true,
          onEntry: (entry) => {
            members++
            this.#record(entry)
          },
        }),
        meter((bytes) => context.progress(bytes, changes?.changedBytes)),
        hashing,
        () => {},
      )
      try {
        await sink({
          stream,
          round,
          members: () => members,
          digest: () => hashing.digest(),
          signal,
        })
        await helper.exited
      } catch (error) {
        throw await helperFailure(error, helper)
      } finally {
        stream.destroy()
      }
      this.#markChangedWhileRead(helper.stderr())
      this.#completed++
      return hashing.digest()
    })
  }

  /**
   * A file the helper found changed while it read it, once its header had gone out, is
   * sent again next round: marked racy. When a warning names a path the copy does not
   * know (the helper escapes control characters in messages), or warnings were cut off,
   * every file sent is.
   */
  #markChangedWhileRead(said: { readonly text: string; readonly truncated: boolean }): void {
    const paths = [...said.text.matchAll(/^warning: (.*): changed while read$/gm)].map(
      (match) => match[1] ?? '',
    )
    if (paths.length === 0 && !said.truncated) return
    const unknown = said.truncated || paths.some((path) => !this.#sent.has(path))
    for (const path of unknown ? [...this.#sent.keys()] : paths) {
      const entry = this.#sent.get(path)
      if (entry) this.#sent.set(path, { ...entry, racy: true })
    }
  }

  /** Remembers a packed member as sent (or forgets a deleted path). */
  #record(member: TarEntry): void {
    if (isDeletion(member.pax)) {
      this.#sent.delete(member.name)
      return
    }
    const linked = member.type === '1' ? this.#sent.get(member.linkname) : undefined
    this.#sent.set(member.name, entryFromPax(member, linked))
  }
}

/**
 * A helper program run that reads a tree (scan, pack): the tree mounted at {@link TREE},
 * with the capability to read whatever its modes say.
 *
 * @param end - the tree.
 * @param what - the command, for its purpose label, e.g. `scan`.
 * @param args - the program's arguments.
 * @param signal - aborts it.
 * @return the run, for {@link withHelperProcesses}.
 */
export function readerRun(
  end: TreeEnd,
  what: string,
  args: readonly string[],
  signal: AbortSignal,
): HelperProcessRun {
  return {
    engine: end.engine,
    program: end.program,
    image: end.image,
    purpose: `${what} ${end.describe}`,
    mounts: [end.mount(TREE)],
    args,
    capabilities: treeCapabilities(end, READ),
    signal,
  }
}

/** What {@link scanTree} is told. */
export interface ScanOptions {
  /** Also each regular file's content sha256, read by the helper (`--checksum`). */
  readonly checksum?: boolean
  readonly signal: AbortSignal
}

/**
 * Scans a tree with `transship-helper scan` in a helper container and hands each entry to
 * `onEntry` as its record arrives, in the helper's order (pre-order, each directory's
 * entries sorted bytewise by name): nothing but the current record is held.
 *
 * ## Example
 * ```ts
 * await scanTree(volumeOnA, { checksum: true, signal }, (entry) => console.log(entry.path))
 * ```
 *
 * @param end - the tree.
 * @param options - content hashes, abort signal.
 * @param onEntry - gets each entry.
 * @throws TransshipError `HELPER_UNAVAILABLE`, `HELPER_FAILED`, `HELPER_OUTPUT_INVALID`.
 */
export async function scanTree(
  end: TreeEnd,
  options: ScanOptions,
  onEntry: (entry: TreeEntry) => void,
): Promise<void> {
  const checksum = options.checksum ?? false
  const args = ['scan', TREE, ...treeArgs(end).filter((arg) => arg !== '--xattrs')]
  const run = readerRun(end, 'scan', checksum ? [...args, '--checksum'] : args, options.signal)
  await withHelperProcesses([run], async ([scan]) => {
    const helper = scan as HelperProcess
    let rest = ''
    try {
      for await (const chunk of helper.stdout) {
        const records = (rest + (chunk as Buffer).toString('latin1')).split('\0')
        rest = records.pop() ?? ''
        for (const record of records) onEntry(parseScanRecord(record, checksum))
      }
      await helper.exited
    } catch (error) {
      throw await helperFailure(error, helper)
    }
    if (rest !== '') {
      throw new TransshipError(
        'HELPER_OUTPUT_INVALID',
        `the scan of ${end.describe} ended mid-record`,
      )
    }
  })
}

/** The list `transship-helper pack --paths` reads: deletions, then entries, then an empty record. */
function pathList({ deleted, changed }: TreeChanges): Buffer {
  const records = [...deleted.map((path) => `D${path}\0`), ...changed.map((path) => `E${path}\0`)]
  return Buffer.from(`${records.join('')}\0`, 'latin1')
}
