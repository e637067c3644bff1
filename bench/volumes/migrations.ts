import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { type MigrationEvent, migrate } from '../../packages/core/src/index.js'
import { createLocalTransport } from '../../packages/transport-local/src/index.js'
import {
  createVolume,
  type Host,
  removeContainer,
  removeVolume,
  volumeDir,
} from '../lib/engines.js'
import { type RssMethod, runProcess, tail } from '../lib/process.js'
import { settle, tarCopy } from '../lib/tarCopy.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI_MAIN = join(ROOT, 'packages/cli/src/main.ts')

/** Where a migration's time went. */
export interface MigrationRun {
  /** Wall time of the whole migration (for the CLI: the process, startup and exit included). */
  readonly ms: number
  /** `stage-finished` durations by stage, in pipeline order. */
  readonly stages: ReadonlyMap<string, number>
  /** The CLI process's peak RSS in KiB. */
  readonly peakRssKiB?: number
}

/** A source container on A, its volume, and where the archives are staged. */
export interface Subject {
  readonly a: Host
  readonly b: Host
  /** The container's and its volume's name (the same on A and, once migrated, on B). */
  readonly name: string
  /** The staging directory of the local transport. */
  readonly staging: string
  readonly signal: AbortSignal
}

/** The durations of the data phases in a run's events. */
export const DATA_STAGES = ['precopy-volumes', 'sync-volumes'] as const

/**
 * Times `transship migrate` as a user runs it: a child process (node with tsx, as
 * `pnpm transship` runs it, without pnpm's own startup), `--json` events read for the
 * stage durations, its peak RSS measured. The source is started first and the target is
 * removed afterwards, neither timed. Staging is sealed, as by default, unless `extra`
 * holds `--no-encrypt`.
 */
export async function migrateWithCli(
  subject: Subject,
  rss: RssMethod,
  extra: readonly string[] = [],
): Promise<MigrationRun> {
  const { a, b, name, staging, signal } = subject
  await prepare(subject)
  const finished = await runProcess(
    process.execPath,
    [
      '--import',
      'tsx',
      CLI_MAIN,
      'migrate',
      name,
      '--from',
      a.engine.url,
      '--to',
      b.engine.url,
      '--via',
      pathToFileURL(staging).href,
      '--no-checkpoint',
      '--json',
      ...extra,
    ],
    { cwd: ROOT, signal, peakRss: rss },
  )
  if (finished.code !== 0) {
    signal.throwIfAborted()
    throw new Error(
      `transship migrate exited with ${finished.code ?? finished.signal}: ${tail(finished.stderr)}`,
    )
  }
  const stages = new Map<string, number>()
  for (const line of finished.stdout.split('\n')) {
    if (!line.startsWith('{')) continue
    const event = JSON.parse(line) as MigrationEvent
    if (event.type === 'stage-finished') stages.set(event.stage, event.durationMs)
  }
  return {
    ms: finished.ms,
    stages,
    ...(finished.peakRssKiB === undefined ? {} : { peakRssKiB: finished.peakRssKiB }),
  }
}

/** Times the `migrate` API in this process, engines already connected: no startup. */
export async function migrateWithApi(subject: Subject): Promise<MigrationRun> {
  const { a, b, name, staging, signal } = subject
  await prepare(subject)
  const stages = new Map<string, number>()
  const transport = createLocalTransport({ base: staging })
  const started = performance.now()
  await new Promise<void>((resolve, reject) => {
    migrate({
      source: a.engine,
      destination: b.engine,
      container: name,
      transport,
      signal,
    }).subscribe({
      next: (event) => {
        if (event.type === 'stage-finished') stages.set(event.stage, event.durationMs)
      },
      error: reject,
      complete: resolve,
    })
  })
  return { ms: performance.now() - started, stages }
}

/**
 * Removes what a migration made at B, and checks that it left nothing staged.
 *
 * @return what was left in the staging directory (removed now), normally nothing.
 */
export async function undoMigration(subject: Subject): Promise<string[]> {
  await removeContainer(subject.b, subject.name)
  await removeVolume(subject.b, subject.name)
  const left = await readdir(subject.staging)
  for (const entry of left) {
    await rm(join(subject.staging, entry), { recursive: true, force: true })
  }
  return left
}

/** Starts the source (a migration stops it) and flushes the disk. */
async function prepare({ a, name }: Subject): Promise<void> {
  const { State } = await a.engine.inspectContainer(name)
  if (!State.Running) await a.engine.startContainer(name)
  settle()
}

/**
 * Times the reference: `tar c | tar x` (GNU tar, `-p --numeric-owner`) from A's volume
 * directory into a fresh volume's directory of B, on the host.
 *
 * @param target - the fresh volume's name at B; it is removed afterwards.
 * @param check - looks at the copy before it is removed.
 * @return the copy's wall time.
 */
export async function referenceCopy(
  subject: Subject,
  target: string,
  labels: Record<string, string>,
  check?: (dir: string) => void,
): Promise<number> {
  const { a, b, name, signal } = subject
  const dir = await createVolume(b, target, labels)
  try {
    const ms = await tarCopy(volumeDir(a, name), dir, signal)
    check?.(dir)
    return ms
  } finally {
    await removeVolume(b, target)
  }
}
