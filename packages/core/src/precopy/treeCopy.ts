import { pipeline } from 'node:stream/promises'
import type Dockerode from 'dockerode'
import { type ArtifactDigest, hashingStream } from '../archive/hashingStream.js'
import { rootTarGuard } from '../archive/rootTarGuard.js'
import type { TarEntry } from '../archive/tarScanner.js'
import type { EngineClient } from '../engine/client.js'
import {
  type HelperProcess,
  type HelperProcessOptions,
  helperFailure,
  withHelperProcesses,
} from '../engine/helperProcess.js'
import { TransshipError } from '../errors.js'
import { meter } from '../pipeline/meter.js'
import { type TreeChanges, treeChanges } from './treeChanges.js'
import { entryFromPax, isDeletion, parseScanRecord, type TreeEntry } from './treeEntry.js'

/** Where the helper containers mount the tree. */
const TREE = '/tree'
/** Reading every file and directory, whatever its mode. */
const READ = ['DAC_READ_SEARCH']
/** Writing files with their owners, modes (setuid included) and devices. */
const WRITE = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'MKNOD']

/** One side of a tree copy: an engine and how its helper containers mount the tree. */
export interface TreeEnd {
  readonly engine: EngineClient
  /** The helper program's path on this machine, built for the engine's architecture. */
  readonly program: string
  /** An image the engine holds, for the helper containers. */
  readonly image: string
  /** The tree, mounted at `target` (read-only at the source). */
  readonly mount: (target: string) => Dockerode.MountSettings
  /** What the tree is there, for messages, e.g. `volume data on unix:///…`. */
  readonly describe: string
}

/** What one round moved. */
export interface RoundResult {
  /** Entries sent (deletions included); 0 when nothing changed. */
  readonly entries: number
  /** The stream sent, as an artifact records it; absent when nothing was sent. */
  readonly digest?: ArtifactDigest
  /** Bytes of the regular files that changed (the next round's estimate). */
  readonly changedBytes: number
}

/** What a round reports as it goes. */
export interface RoundContext {
  readonly signal: AbortSignal
  /** Bytes sent so far in this round. */
  readonly progress: (bytesDone: number, bytesTotal?: number) => void
}

/**
 * A directory tree copied from one engine to another by transship's helper program,
 * round by round: the first round sends everything, while the source may still change it;
 * each later round scans the source and sends only what changed since the round before
 * (new, changed and deleted entries, metadata included), so that the last round, once the
 * source is frozen, leaves the copy equal to it. The copy remembers what it sent (each
 * entry's `lstat`, taken before its content was read) to compare with the next scan.
 *
 * ## Example
 * ```ts
 * const copy = new TreeCopy(from, to)
 * await copy.full(context)      // the source still runs
 * await stopTheSource()
 * await copy.delta(context)     // only what changed
 * ```
 */
export class TreeCopy {
  readonly #from: TreeEnd
  readonly #to: TreeEnd
  /** Every entry as last sent, by path. */
  readonly #sent = new Map<string, TreeEntry>()
  #rounds = 0

  /**
   * @param from - the source side (read only).
   * @param to - the destination side.
   */
  constructor(from: TreeEnd, to: TreeEnd) {
    this.#from = from
    this.#to = to
  }

  /** Rounds run so far, the full copy included. */
  get rounds(): number {
    return this.#rounds
  }

  /**
   * Sends the whole tree.
   *
   * @param context - abort signal and progress.
   * @return what was sent.
   */
  async full(context: RoundContext): Promise<RoundResult> {
    this.#rounds++
    const digest = await this.#send(['pack', TREE], undefined, context)
    return { entries: this.#sent.size, digest, changedBytes: digest.size }
  }

  /**
   * Scans the source and sends what changed since the last round; nothing when nothing did.
   *
   * @param context - abort signal and progress.
   * @return what was sent.
   */
  async delta(context: RoundContext): Promise<RoundResult> {
    this.#rounds++
    const changes = treeChanges(this.#sent, await this.#scan(context.signal))
    const entries = changes.deleted.length + changes.changed.length
    if (entries === 0) return { entries, changedBytes: 0 }
    for (const path of changes.deleted) this.#sent.delete(path)
    const digest = await this.#send(['pack', TREE, '--paths'], changes, context)
    return { entries, digest, changedBytes: changes.changedBytes }
  }

  async #scan(signal: AbortSignal): Promise<TreeEntry[]> {
    const options = this.#helper(this.#from, 'scan', ['scan', TREE], READ, signal)
    return withHelperProcesses([options], async ([scanner]) => {
      const helper = scanner as HelperProcess
      const entries: TreeEntry[] = []
      let rest = ''
      try {
        for await (const chunk of helper.stdout) {
          const records = (rest + (chunk as Buffer).toString('latin1')).split('\0')
          rest = records.pop() ?? ''
          for (const record of records) entries.push(parseScanRecord(record))
        }
      } catch (error) {
        throw await helperFailure(error, helper)
      }
      await helper.exited
      if (rest !== '')
        throw new TransshipError('HELPER_OUTPUT_INVALID', 'the scan ended mid-record')
      return entries
    })
  }

  /** Runs pack at the source and unpack at the destination, the archive checked between. */
  async #send(
    pack: readonly string[],
    changes: TreeChanges | undefined,
    context: RoundContext,
  ): Promise<ArtifactDigest> {
    const { signal } = context
    const helpers = [
      this.#helper(this.#from, 'pack', pack, READ, signal),
      this.#helper(this.#to, 'unpack', ['unpack', TREE], WRITE, signal),
    ]
    return withHelperProcesses(helpers, async ([packer, unpacker]) => {
      const source = packer as HelperProcess
      const destination = unpacker as HelperProcess
      if (changes) source.stdin.write(pathList(changes))
      const hashing = hashingStream()
      let members = 0
      const guard = rootTarGuard(`${this.#from.describe}, as transship-helper packed it`, {
        sparse: true,
        onEntry: (entry) => {
          members++
          this.#record(entry)
        },
      })
      const total = changes?.changedBytes
      try {
        await pipeline(
          source.stdout,
          guard,
          meter((bytes) => context.progress(bytes, total)),
          hashing,
          destination.stdin,
          { signal },
        )
        await Promise.all([source.exited, destination.exited])
      } catch (error) {
        throw await helperFailure(error, source, destination)
      }
      await this.#checkApplied(destination, members)
      return hashing.digest()
    })
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

  /** The destination's helper says how many members it applied: all of them. */
  async #checkApplied(destination: HelperProcess, members: number): Promise<void> {
    let said = ''
    for await (const chunk of destination.stdout) said += (chunk as Buffer).toString('utf8')
    const applied = /^ok (\d+) (\d+)\n?$/.exec(said)
    if (!applied || Number(applied[1]) !== members) {
      throw new TransshipError(
        'HELPER_OUTPUT_INVALID',
        `transship-helper applied ${JSON.stringify(said.trim())} of ${members} members to ${this.#to.describe}`,
      )
    }
  }

  #helper(
    end: TreeEnd,
    what: string,
    args: readonly string[],
    capabilities: readonly string[],
    signal: AbortSignal,
  ): HelperProcessOptions & { readonly engine: EngineClient; readonly program: string } {
    return {
      engine: end.engine,
      program: end.program,
      image: end.image,
      purpose: `${what} ${end.describe}`,
      mounts: [end.mount(TREE)],
      args,
      capabilities,
      signal,
    }
  }
}

/** The list `transship-helper pack --paths` reads: deletions, then entries, then an empty record. */
function pathList({ deleted, changed }: TreeChanges): Buffer {
  const records = [...deleted.map((path) => `D${path}\0`), ...changed.map((path) => `E${path}\0`)]
  return Buffer.from(`${records.join('')}\0`, 'latin1')
}
