import { pipeline as pipe, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ArtifactDigest } from '../archive/hashingStream.js'
import { rootTarGuard } from '../archive/rootTarGuard.js'
import { verifyingStream } from '../archive/verifyingStream.js'
import { type HelperProcess, helperFailure, withHelperProcesses } from '../engine/helperProcess.js'
import { TransshipError } from '../errors.js'
import { meter } from '../pipeline/meter.js'
import type { Transport } from '../transport/contract.js'
import { TREE, type TreeEnd, type TreeSink, treeCapabilities } from './treeSource.js'

/** Writing files with their owners, modes (setuid included) and devices. */
const WRITE = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'MKNOD']

/**
 * The direct route's sink: unpacks each round's archive into a tree at the destination
 * (a volume made for it), through transship's helper program there.
 *
 * @param to - the tree at the destination.
 * @return the sink.
 */
export function unpackInto(to: TreeEnd): TreeSink {
  return ({ stream, members, signal }) => unpackTree(to, stream, members, signal)
}

/** What {@link storeIn} tells its caller about each round's archive. */
export interface StoreHooks {
  /** Before the archive is stored under `key`: where its removal is recorded, for a rollback. */
  readonly storing: (key: string) => Promise<void>
  /** Once it is stored, with its size and sha256 (e.g. to apply it at the destination). */
  readonly stored: (round: number, digest: ArtifactDigest) => Promise<void>
}

/**
 * The staging sink: stores each round's archive in a transport, under the key `keyOf`
 * gives its round, telling `hooks` before and after each store.
 *
 * @param transport - where the archives go.
 * @param keyOf - the key of a round's archive, under the transport (backup id included).
 * @param hooks - told of each archive before it is stored and once it is.
 * @return the sink.
 */
export function storeIn(
  transport: Transport,
  keyOf: (round: number) => string,
  hooks: StoreHooks,
): TreeSink {
  return async ({ stream, round, digest, signal }) => {
    const key = keyOf(round)
    await hooks.storing(key)
    await transport.put(key, stream, undefined, { signal })
    await hooks.stored(round, await digest())
  }
}

/**
 * Applies a stored tree archive (a volume's base or delta) to a tree at the destination:
 * reads it from the transport, checks its size and sha256 and every member as it
 * streams, and unpacks it through transship's helper program there.
 *
 * ## Example
 * ```ts
 * await applyStoredTree(volumeOnB, transport, `${id}/volumes/0.tar`, artifact, { signal, progress })
 * ```
 *
 * @param to - the tree at the destination.
 * @param transport - where the archive is.
 * @param key - its key under the transport.
 * @param expected - its size and sha256, as recorded when it was stored.
 * @param context - abort signal and progress.
 * @throws TransshipError `INTEGRITY`, `UNSAFE_ARCHIVE`, `HELPER_FAILED`.
 */
export async function applyStoredTree(
  to: TreeEnd,
  transport: Transport,
  key: string,
  expected: ArtifactDigest,
  context: { signal: AbortSignal; progress: (bytesDone: number, bytesTotal?: number) => void },
): Promise<void> {
  let members = 0
  const stream = pipe(
    await transport.get(key, { signal: context.signal }),
    meter((bytes) => context.progress(bytes, expected.size)),
    verifyingStream(expected, `artifact ${key}`),
    rootTarGuard(`artifact ${key}`, {
      helper: true,
      onEntry: () => {
        members++
      },
    }),
    () => {},
  )
  try {
    await unpackTree(to, stream, () => members, context.signal)
  } finally {
    stream.destroy()
  }
}

/** Unpacks a checked tree archive at the destination, and checks the helper applied it all. */
async function unpackTree(
  to: TreeEnd,
  stream: Readable,
  members: () => number,
  signal: AbortSignal,
): Promise<void> {
  const run = {
    engine: to.engine,
    program: to.program,
    image: to.image,
    purpose: `unpack into ${to.describe}`,
    mounts: [to.mount(TREE)],
    args: ['unpack', TREE, ...(to.xattrs ? ['--xattrs'] : [])],
    capabilities: treeCapabilities(to, WRITE),
    signal,
  }
  await withHelperProcesses([run], async ([unpack]) => {
    const helper = unpack as HelperProcess
    let said = ''
    // A helper that fails (a full disk) stops reading, but its stdin stays open: writing
    // into it would wait for ever.
    helper.exited.catch((error: unknown) => helper.stdin.destroy(error as Error))
    try {
      await pipeline(stream, helper.stdin, { signal })
      for await (const chunk of helper.stdout) said += (chunk as Buffer).toString('utf8')
      await helper.exited
    } catch (error) {
      throw await helperFailure(error, helper)
    }
    const applied = /^ok (\d+) (\d+)\n?$/.exec(said)
    if (!applied || Number(applied[1]) !== members()) {
      throw new TransshipError(
        'HELPER_OUTPUT_INVALID',
        `transship-helper applied ${JSON.stringify(said.trim())} of ${members()} members to ${to.describe}`,
      )
    }
  })
}
