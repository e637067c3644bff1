import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Downtime, MigrationEvent } from '../../packages/core/src/index.js'
import { testS3Environment } from '../../test/support/s3.js'
import type { BenchContext } from '../lib/benchmark.js'
import { docker, labelArgs } from '../lib/docker.js'
import { createVolume, type Host, removeVolume, volumeDir } from '../lib/engines.js'
import { type RssMethod, runProcess, tail } from '../lib/process.js'
import {
  type ColdCopy,
  coldCopyVolumes,
  containerId,
  copyCheckpointDirectory,
  startFromCheckpoint,
  utilityMount,
} from '../lib/references.js'
import { tarCopy } from '../lib/tarCopy.js'
import type { Workload } from './workloads.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI_MAIN = join(ROOT, 'packages/cli/src/main.ts')

/**
 * The ways a container is moved (or, `tar`, its volume copied on this host):
 * (a) and (b) are the references, (c) to (f) transship.
 */
export type MethodId = 'tar' | 'a' | 'b' | 'c' | 'd' | 'e' | 'f'

/** Each method as the tables name it. */
export const METHOD_LABELS: Record<MethodId, string> = {
  tar: 'tar c | tar x, volume dir A → dir at B (host)',
  a: '(a) seed: stop, tar, cp, untar, start',
  b: '(b) docker checkpoint, tar/cp/untar, start --checkpoint',
  c: '(c) transship --no-checkpoint (direct)',
  d: '(d) transship, checkpoint (direct)',
  e: '(e) transship, checkpoint, --via file://',
  f: '(f) transship, checkpoint, --via s3://',
}

/** Whether a method keeps the processes (and their memory). */
export const CHECKPOINTS: Record<MethodId, boolean> = {
  tar: false,
  a: false,
  b: true,
  c: false,
  d: true,
  e: true,
  f: true,
}

/** One workload's container on A, and what a method needs to move it. */
export interface Subject {
  readonly context: BenchContext
  readonly a: Host
  readonly b: Host
  readonly workload: Workload
  /** The container's and its volume's name, on A and, once migrated, on B. */
  readonly name: string
  readonly labels: Record<string, string>
  /** A host directory for archives and staging, emptied after each migration. */
  readonly staging: string
  /** `s3://bucket/prefix` of this benchmark run, for (f). */
  readonly s3: string
  readonly rss: RssMethod
}

/** What a method measured itself. */
export interface Measured {
  /**
   * Downtime as the method itself knows it: for (a) and (b) from before the stop or
   * checkpoint request to `docker start` returning (timestamps around the calls); for
   * transship the `summary` event's `downtime.totalMs`. For `tar`: the copy's time.
   */
  readonly ownMs: number
  /** The whole migration, from its first call to its end (transship: the CLI process). */
  readonly totalMs: number
  /** transship: the downtime's parts, from the summary. */
  readonly parts?: Downtime
  /** transship: `stage-finished` durations by stage. */
  readonly stages?: ReadonlyMap<string, number>
  /**
   * transship's direct route: the full copy of phase 1, from the `precopy-volumes` stage's
   * start to the last progress event of its first (full) round, as the CLI's `--json`
   * lines arrived here; and the bytes that round reported.
   */
  readonly fullCopy?: {
    readonly ms: number
    readonly bytes: number
    /** From the round's first progress event to its last: the streaming alone. */
    readonly streamingMs: number
  }
  /** transship: the CLI process's peak RSS in KiB. */
  readonly peakRssKiB?: number
}

/** The `docker create` arguments of the workload's container, with its volume `mounts`. */
export function createArgs(subject: Subject, mounts: readonly string[]): string[] {
  const { workload, name, labels, context } = subject
  const image =
    workload.image === 'redis' ? context.env.TESTENV_IMAGE_REDIS : context.env.TESTENV_IMAGE_BUSYBOX
  return [
    'create',
    '--name',
    name,
    ...labelArgs(labels),
    ...Object.entries(workload.env).flatMap(([key, value]) => ['-e', `${key}=${value}`]),
    ...mounts,
    image,
    'sh',
    '-c',
    workload.script,
  ]
}

/**
 * Runs one method once on a running source; its target is left at B for the checks.
 *
 * @param index - the run's number, for unique names.
 * @return what the method measured.
 */
export function measure(subject: Subject, method: MethodId, index: number): Promise<Measured> {
  switch (method) {
    case 'tar':
      return hostTar(subject, index)
    case 'a':
      return stopAndCopy(subject, index)
    case 'b':
      return plainCheckpoint(subject, index)
    case 'c':
      return transship(subject, { checkpoint: false })
    case 'd':
      return transship(subject, { checkpoint: true })
    case 'e':
      return transship(subject, { checkpoint: true, via: 'file' })
    case 'f':
      return transship(subject, { checkpoint: true, via: 's3', index })
  }
}

/** `tar c | tar x` of the volume's directory at A into a fresh volume's directory at B. */
async function hostTar(subject: Subject, index: number): Promise<Measured> {
  const { a, b, name, labels, context } = subject
  const target = `${name}-tar${index}`
  const dir = await createVolume(b, target, labels)
  try {
    const ms = await tarCopy(volumeDir(a, name), dir, context.signal)
    return { ownMs: ms, totalMs: ms }
  } finally {
    await removeVolume(b, target)
  }
}

function coldCopy(subject: Subject): ColdCopy {
  const { context, a, b, name, labels, staging } = subject
  return {
    context,
    a: a.engine.url,
    b: b.engine.url,
    source: name,
    paths: ['/data'],
    volumes: [name],
    utility: `${name}-utility`,
    image: context.env.TESTENV_IMAGE_BUSYBOX,
    staging,
    labels,
  }
}

/** (a) The seed's cold migration: stop, the volume tarred, copied and untarred, start. */
async function stopAndCopy(subject: Subject, index: number): Promise<Measured> {
  const { context, a, b, name } = subject
  const copy = coldCopy(subject)
  const started = performance.now()
  await docker(context, a.engine.url, ['stop', name])
  await coldCopyVolumes(copy, `a${index}`)
  await docker(context, b.engine.url, createArgs(subject, utilityMount(copy)))
  await docker(context, b.engine.url, ['start', name])
  const ms = performance.now() - started
  return { ownMs: ms, totalMs: ms }
}

/**
 * (b) The engine's own checkpoint: `docker checkpoint create`, the volume copied as (a)
 * does, the target created, the checkpoint directory copied into it, `docker start
 * --checkpoint`.
 */
async function plainCheckpoint(subject: Subject, index: number): Promise<Measured> {
  const { context, a, b, name } = subject
  const { env } = context
  const copy = coldCopy(subject)
  const checkpoint = `bench-${index}`
  const started = performance.now()
  await docker(context, a.engine.url, ['checkpoint', 'create', name, checkpoint])
  await coldCopyVolumes(copy, `b${index}`)
  const target = (
    await docker(context, b.engine.url, createArgs(subject, utilityMount(copy)))
  ).trim()
  const source = await containerId(context, a.engine.url, name)
  const roots = { a: env.TESTENV_HOST_A_DATA_ROOT, b: env.TESTENV_HOST_B_DATA_ROOT }
  await copyCheckpointDirectory(roots, source, target, checkpoint)
  await startFromCheckpoint(context, b.engine.url, name, checkpoint)
  const ms = performance.now() - started
  return { ownMs: ms, totalMs: ms }
}

/**
 * `transship migrate` as a user runs it: a child process (node with tsx, without pnpm's
 * own startup), `--json` events read as they arrive, its peak RSS measured.
 */
async function transship(
  subject: Subject,
  how: { checkpoint: boolean; via?: 'file' | 's3'; index?: number },
): Promise<Measured> {
  const { context, a, b, name, rss } = subject
  const { signal } = context
  const staging = how.via === 'file' ? await mkdtemp(join(subject.staging, 'via-')) : undefined
  const via =
    how.via === 's3'
      ? `${subject.s3}/${name}-${how.index ?? 0}`
      : staging
        ? pathToFileURL(staging).href
        : undefined
  const args = [
    '--import',
    'tsx',
    CLI_MAIN,
    'migrate',
    name,
    '--from',
    a.engine.url,
    '--to',
    b.engine.url,
    '--json',
    ...(how.checkpoint ? [] : ['--no-checkpoint']),
    ...(via ? ['--via', via] : []),
  ]
  const env: NodeJS.ProcessEnv = { ...process.env, ...testS3Environment() }
  delete env.DEBUG
  delete env.DOCKER_HOST
  const stages = new Map<string, number>()
  let summary: Extract<MigrationEvent, { type: 'summary' }> | undefined
  let precopyStarted: number | undefined
  let fullCopy: { ms: number; bytes: number; streamingMs: number } | undefined
  let firstProgress: number | undefined
  const onLine = (line: string, at: number) => {
    if (!line.startsWith('{')) return
    const event = JSON.parse(line) as MigrationEvent
    if (event.type === 'stage-started' && event.stage === 'precopy-volumes') precopyStarted = at
    if (event.type === 'stage-finished') stages.set(event.stage, event.durationMs)
    if (event.type === 'summary') summary = event
    if (
      event.type === 'progress' &&
      event.stage === 'precopy-volumes' &&
      !event.artifact.includes(', changes') &&
      precopyStarted !== undefined
    ) {
      firstProgress ??= at
      fullCopy = {
        ms: at - precopyStarted,
        bytes: event.bytesDone,
        streamingMs: at - firstProgress,
      }
    }
  }
  try {
    const finished = await runProcess(process.execPath, args, {
      cwd: ROOT,
      env,
      signal,
      peakRss: rss,
      onLine,
    })
    if (finished.code !== 0) {
      signal.throwIfAborted()
      throw new Error(
        `transship ${args.slice(3).join(' ')} exited with ${finished.code ?? finished.signal}: ${tail(finished.stderr, 8)}`,
      )
    }
    const downtime = summary?.downtime
    if (!downtime) throw new Error(`transship ${args.slice(3).join(' ')} reported no downtime`)
    return {
      ownMs: downtime.totalMs,
      totalMs: finished.ms,
      parts: downtime,
      stages,
      ...(fullCopy ? { fullCopy } : {}),
      ...(finished.peakRssKiB === undefined ? {} : { peakRssKiB: finished.peakRssKiB }),
    }
  } finally {
    if (staging) await rm(staging, { recursive: true, force: true })
  }
}
