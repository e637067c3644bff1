import { randomBytes } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import {
  connectEngine,
  type EngineClient,
  HELPER_LABEL,
  TransshipError,
} from '../../packages/core/src/index.js'
import type { BenchContext } from './benchmark.js'

/** Label on everything a benchmark creates on an engine. */
export const BENCH_LABEL = 'transship.bench'
/** Label naming the run, so that cleanup removes this run's things and nobody else's. */
export const RUN_LABEL = 'transship.bench.run'

/** One test-environment engine, with the host path of its data root. */
export interface Host {
  /** `A` or `B`, for messages. */
  readonly name: string
  readonly engine: EngineClient
  /** Where the engine's /var/lib/docker is on this machine. */
  readonly dataRoot: string
}

/**
 * Connects to test-environment host A or B for a benchmark's run, and registers its
 * cleanup: everything of the run removed from it (see {@link sweep}), then the connection
 * closed.
 *
 * @param context - the benchmark's context.
 * @param name - `A` or `B`.
 * @param run - the run's id and name prefix.
 * @return the host.
 */
export async function openHost(
  context: BenchContext,
  name: 'A' | 'B',
  run: { readonly runId: string; readonly prefix: string },
): Promise<Host> {
  const { env, cleanup } = context
  const host: Host = {
    name,
    engine: await connectEngine(name === 'A' ? env.TESTENV_HOST_A : env.TESTENV_HOST_B),
    dataRoot: name === 'A' ? env.TESTENV_HOST_A_DATA_ROOT : env.TESTENV_HOST_B_DATA_ROOT,
  }
  cleanup.defer(`close engine ${name}`, () => host.engine.close())
  cleanup.defer(`remove ${run.prefix}* on ${name}`, () => sweep(host, run.runId, run.prefix))
  return host
}

/** A fresh id for one run of a benchmark: what its labels and names carry. */
export function newRunId(): string {
  return `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`
}

/** The labels of a run's containers and volumes. */
export function runLabels(runId: string): Record<string, string> {
  return { [BENCH_LABEL]: 'true', [RUN_LABEL]: runId }
}

/** The host directory holding a local volume's content. */
export function volumeDir(host: Host, volume: string): string {
  return join(host.dataRoot, 'volumes', volume, '_data')
}

/**
 * Creates a local volume and checks that its content directory is where the benchmark
 * reads or writes it on the host.
 *
 * @return the volume's host directory.
 */
export async function createVolume(
  host: Host,
  name: string,
  labels: Record<string, string>,
): Promise<string> {
  await host.engine.call(`create volume ${name}`, (docker) =>
    docker.createVolume({ Name: name, Labels: labels }),
  )
  const dir = volumeDir(host, name)
  const found = await stat(dir).catch(() => undefined)
  if (!found?.isDirectory()) {
    throw new Error(
      `volume ${name} on ${host.name} is not at ${dir}: is TESTENV_HOST_${host.name}_DATA_ROOT right?`,
    )
  }
  return dir
}

/** Removes a container (force) if it exists. */
export async function removeContainer(host: Host, name: string): Promise<void> {
  await ignoreMissing(host.engine.removeContainer(name))
}

/**
 * Removes a volume if it exists, first removing transship helper containers still
 * mounting it (left by an interrupted migration).
 */
export async function removeVolume(host: Host, name: string): Promise<void> {
  const users = await host.engine.call(`list containers using ${name}`, (docker) =>
    docker.listContainers({ all: true, filters: { volume: [name], label: [HELPER_LABEL] } }),
  )
  for (const user of users) await removeContainer(host, user.Id)
  await ignoreMissing(
    host.engine.call(`remove volume ${name}`, (docker) => docker.getVolume(name).remove()),
  )
}

/**
 * Removes everything of a run on an engine: containers, then volumes, found by the run's
 * label or by its name prefix (a migrated container or volume keeps its name).
 */
export async function sweep(host: Host, runId: string, prefix: string): Promise<void> {
  const label = [`${RUN_LABEL}=${runId}`]
  const containers = await host.engine.call('list bench containers', async (docker) => [
    ...(await docker.listContainers({ all: true, filters: { label } })),
    ...(await docker.listContainers({ all: true, filters: { name: [prefix] } })),
  ])
  for (const id of new Set(containers.map((c) => c.Id))) await removeContainer(host, id)
  const volumes = await host.engine.call('list bench volumes', async (docker) => [
    ...((await docker.listVolumes({ filters: { label } })).Volumes ?? []),
    ...((await docker.listVolumes({ filters: { name: [prefix] } })).Volumes ?? []),
  ])
  for (const name of new Set(volumes.map((v) => v.Name))) await removeVolume(host, name)
}

async function ignoreMissing(call: Promise<unknown>): Promise<void> {
  try {
    await call
  } catch (error) {
    if (error instanceof TransshipError && error.code === 'ENGINE_NOT_FOUND') return
    throw error
  }
}
