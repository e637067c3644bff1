import { cp, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { BenchContext } from './benchmark.js'
import { docker, labelArgs } from './docker.js'
import { runProcess } from './process.js'

/**
 * The migrations transship is measured against, done as a user does them with the docker
 * CLI and shell commands: the seed's cold copy of the volumes (issue 1's README), and the
 * engine's own `docker checkpoint` with its directory copied by hand.
 */

/** What the seed's cold volume copy needs to know. */
export interface ColdCopy {
  readonly context: BenchContext
  /** The source engine's URL (`-H`). */
  readonly a: string
  /** The destination engine's URL. */
  readonly b: string
  /** The source container, stopped or checkpointed. */
  readonly source: string
  /** Its volumes' mount paths, e.g. `['/data']`. */
  readonly paths: readonly string[]
  /** A fresh volume at B for each path, in order. */
  readonly volumes: readonly string[]
  /** The utility container made at B, holding the fresh volumes (`--volumes-from`). */
  readonly utility: string
  /** An image with `tar` on both engines (busybox). */
  readonly image: string
  /** A host directory for the archives (made here, left for the caller to remove). */
  readonly staging: string
  readonly labels: Record<string, string>
}

/**
 * The volumes as the seed's shell commands move them, while the source is down: a helper
 * container tars each volume of the source (`--volumes-from SOURCE:ro`) to a file, the
 * files are copied (`cp` here: both hosts are on this machine), and at B a utility
 * container holding fresh volumes at the same paths is made and a helper container untars
 * into them. The target is then created with `--volumes-from` the utility container
 * ({@link utilityMount}).
 *
 * @param copy - engines, containers, volumes, staging.
 * @param tag - a name for this copy's archives, unique in the staging directory.
 */
export async function coldCopyVolumes(copy: ColdCopy, tag: string): Promise<void> {
  const { context, paths, labels, image } = copy
  const from = join(copy.staging, `${tag}-a`)
  const to = join(copy.staging, `${tag}-b`)
  await Promise.all([mkdir(from, { recursive: true }), mkdir(to, { recursive: true })])
  const tars = paths.map((path, index) => `tar cf /backup/${index}.tar -C ${path} .`)
  await docker(context, copy.a, [
    'run',
    '--rm',
    ...labelArgs(labels),
    '--network',
    'none',
    '--volumes-from',
    `${copy.source}:ro`,
    '-v',
    `${from}:/backup`,
    image,
    'sh',
    '-c',
    tars.join(' && '),
  ])
  for (const index of paths.keys()) {
    await cp(join(from, `${index}.tar`), join(to, `${index}.tar`))
  }
  await docker(context, copy.b, [
    'create',
    '--name',
    copy.utility,
    ...labelArgs(labels),
    ...paths.flatMap((path, index) => ['-v', `${copy.volumes[index]}:${path}`]),
    image,
    'true',
  ])
  const untars = paths.map((path, index) => `tar xf /backup/${index}.tar -C ${path}`)
  await docker(context, copy.b, [
    'run',
    '--rm',
    ...labelArgs(labels),
    '--network',
    'none',
    '--volumes-from',
    copy.utility,
    '-v',
    `${to}:/backup`,
    image,
    'sh',
    '-c',
    untars.join(' && '),
  ])
}

/** The `docker create` arguments that mount the utility container's volumes in the target. */
export function utilityMount(copy: ColdCopy): string[] {
  return ['--volumes-from', copy.utility]
}

/** Where two engines keep their containers on this machine (their data roots). */
export interface DataRoots {
  readonly a: string
  readonly b: string
}

/**
 * Copies a checkpoint made by `docker checkpoint create` into a container at B, as a user
 * does by hand: its directory under the engine's data root, with `cp -a`'s care.
 *
 * @param sourceId - the source container's full id at A.
 * @param targetId - the target container's full id at B (created, not started).
 */
export async function copyCheckpointDirectory(
  roots: DataRoots,
  sourceId: string,
  targetId: string,
  checkpoint: string,
): Promise<void> {
  await cp(
    join(roots.a, 'containers', sourceId, 'checkpoints', checkpoint),
    join(roots.b, 'containers', targetId, 'checkpoints', checkpoint),
    { recursive: true, preserveTimestamps: true },
  )
}

/**
 * `docker start --checkpoint NAME` (Docker 20.10 refuses `--checkpoint-dir`); repeated
 * once on "already exists", which the engine answers now and then to a first restore.
 */
export async function startFromCheckpoint(
  context: BenchContext,
  host: string,
  container: string,
  checkpoint: string,
): Promise<void> {
  const start = ['start', '--checkpoint', checkpoint, container]
  const first = await runProcess('docker', ['-H', host, ...start], { signal: context.signal })
  if (first.code === 0) return
  if (!/already exists/.test(first.stderr)) throw new Error(`docker start: ${first.stderr}`)
  await docker(context, host, start)
}

/** Removes every checkpoint of a container (`docker checkpoint rm`). */
export async function removeCheckpoints(
  context: BenchContext,
  host: string,
  container: string,
): Promise<void> {
  const listed = await docker(context, host, ['checkpoint', 'ls', container])
  for (const line of listed.split('\n').slice(1)) {
    const checkpoint = line.trim()
    if (checkpoint) await docker(context, host, ['checkpoint', 'rm', container, checkpoint])
  }
}

/** A container's full id. */
export async function containerId(
  context: BenchContext,
  host: string,
  container: string,
): Promise<string> {
  return (await docker(context, host, ['inspect', '-f', '{{.Id}}', container])).trim()
}
