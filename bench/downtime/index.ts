import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { connectEngine, messageOf } from '../../packages/core/src/index.js'
import { createS3Transport } from '../../packages/transport-s3/src/index.js'
import type { BenchContext, Benchmark } from '../lib/benchmark.js'
import { summarizeTree } from '../lib/data.js'
import { docker } from '../lib/docker.js'
import {
  createVolume,
  type Host,
  newRunId,
  removeContainer,
  removeVolume,
  runLabels,
  sweep,
} from '../lib/engines.js'
import { machineLoad } from '../lib/machine.js'
import { rssMethod } from '../lib/process.js'
import { fillRedisMemory, redisKeptMemory } from '../lib/redis.js'
import { removeCheckpoints } from '../lib/references.js'
import { seconds } from '../lib/table.js'
import { settle } from '../lib/tarCopy.js'
import { compareVolumes, heartbeatGap } from './checks.js'
import { CHECKPOINTS, createArgs, type MethodId, measure, type Subject } from './methods.js'
import { printResults, type RunResult, type WorkloadResult } from './report.js'
import { type Workload, workloads } from './workloads.js'

/**
 * `pnpm bench downtime` (issue 13): how long a container does not run while it moves
 * A → B, for transship's direct route (cold and with a checkpoint) and its staged routes
 * (file://, s3://), against the seed's cold stop-and-copy and the engine's own `docker
 * checkpoint`, on four workloads (idle 1 GiB volume, the same with a writer, 50,000 small
 * files, redis holding 256 MiB in memory); the direct route's bulk copy against `tar c |
 * tar x` on the host; the transship process's peak RSS for 1 and 4 GiB. Each run measures
 * every method in a new random order, after an untimed warm-up run.
 */
export const downtimeBenchmark: Benchmark = {
  name: 'downtime',
  description:
    'downtime A → B: transship direct (cold, checkpoint), via file:// and s3:// vs the seed and docker checkpoint; bulk copy vs tar; peak RSS 1 vs 4 GiB',
  run,
}

interface Bench {
  readonly context: BenchContext
  readonly a: Host
  readonly b: Host
  readonly runId: string
  readonly prefix: string
  readonly staging: string
  readonly s3: string
}

async function run(context: BenchContext): Promise<void> {
  const { env, settings, cleanup, log } = context
  const runId = newRunId()
  const prefix = `transship-bench-dt-${runId}`
  const host = async (name: 'A' | 'B', url: string, dataRoot: string): Promise<Host> => {
    const engine = await connectEngine(url)
    cleanup.defer(`close engine ${name}`, () => engine.close())
    return { name, engine, dataRoot }
  }
  const a = await host('A', env.TESTENV_HOST_A, env.TESTENV_HOST_A_DATA_ROOT)
  const b = await host('B', env.TESTENV_HOST_B, env.TESTENV_HOST_B_DATA_ROOT)
  cleanup.defer(`remove ${prefix}* on A`, () => sweep(a, runId, prefix))
  cleanup.defer(`remove ${prefix}* on B`, () => sweep(b, runId, prefix))
  const staging = await mkdtemp(join(tmpdir(), 'transship-bench-dt-'))
  cleanup.defer(`remove ${staging}`, () => rm(staging, { recursive: true, force: true }))
  const s3 = `s3://${env.TESTENV_S3_BUCKET}/${prefix}`
  // The SDK warns once per process that Node 20 will lose support (as the CLI, quiet).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  cleanup.defer(`remove ${s3}`, async () => {
    const transport = createS3Transport({
      endpoint: env.TESTENV_S3_ENDPOINT,
      region: env.TESTENV_S3_REGION,
      credentials: {
        accessKeyId: env.TESTENV_S3_ACCESS_KEY_ID,
        secretAccessKey: env.TESTENV_S3_SECRET_ACCESS_KEY,
      },
      bucket: env.TESTENV_S3_BUCKET,
      prefix,
    })
    for (const { key } of await transport.list('')) await transport.remove(key)
    await transport.close?.()
  })
  const rss = rssMethod(settings.rss)
  const bench: Bench = { context, a, b, runId, prefix, staging, s3 }
  log(`run ${runId}: staging in ${staging}, S3 at ${s3}, peak RSS from ${rss}`)

  const results: WorkloadResult[] = []
  const started = machineLoad()
  for (const workload of workloads(settings.scale, settings.runs, env.TESTENV_HOST_A_DATA_ROOT)) {
    context.signal.throwIfAborted()
    results.push(await measureWorkload(bench, workload, rss))
  }
  printResults(results, { rss, load: [started, machineLoad()] })
}

async function measureWorkload(
  bench: Bench,
  workload: Workload,
  rss: ReturnType<typeof rssMethod>,
): Promise<WorkloadResult> {
  const { context, a, b, prefix, runId } = bench
  const { signal, log } = context
  const name = `${prefix}-${workload.id}`
  const labels = runLabels(runId)
  const subject: Subject = {
    context,
    a,
    b,
    workload,
    name,
    labels,
    staging: bench.staging,
    s3: bench.s3,
    rss,
  }
  const runs: RunResult[] = []
  try {
    const dir = await createVolume(a, name, labels)
    const filling = performance.now()
    await workload.fill?.(dir, signal)
    const data = summarizeTree(dir)
    log(
      `${workload.id}: ${data.files} files, ${data.bytes} bytes in volume ${name} on A (${seconds(performance.now() - filling)} s)`,
    )
    await docker(context, a.engine.url, createArgs(subject, ['-v', `${name}:/data`]))
    const loadBefore = machineLoad()
    for (let index = workload.warmUp ? 0 : 1; index <= workload.runs; index++) {
      const counted = index > 0
      for (const method of shuffled(workload.methods)) {
        signal.throwIfAborted()
        const result = await measureOnce(subject, method, index)
        if (counted) runs.push(result)
        log(
          `${workload.id} run ${index}/${workload.runs}${counted ? '' : ' (warm-up, not counted)'} ${method}: ${describe(result)}`,
        )
      }
    }
    return { workload, data, runs, load: [loadBefore, machineLoad()] }
  } finally {
    await resetTarget(subject).catch((error) => log(`reset failed: ${messageOf(error)}`))
    await removeContainer(a, name)
    await removeVolume(a, name)
  }
}

/** One method once: start the source, measure, look at the target, put everything back. */
async function measureOnce(subject: Subject, method: MethodId, index: number): Promise<RunResult> {
  const { context, a, b, name, workload } = subject
  await prepareSource(subject)
  try {
    const measured = await measure(subject, method, index)
    if (method === 'tar') return { method, index, measured }
    const { gapMs: outsideMs, resumedAt } = await heartbeatGap(context, a, b, name)
    const check =
      workload.checkData === 'every' || (workload.checkData === 'warm-up' && index === 0)
        ? await compareVolumes(
            a,
            b,
            context.env.TESTENV_IMAGE_BUSYBOX,
            name,
            CHECKPOINTS[method] ? resumedAt : undefined,
          )
        : undefined
    const memoryKept =
      workload.memoryKeys === undefined
        ? undefined
        : await redisKeptMemory(context, b.engine.url, name, workload.memoryKeys)
    return {
      method,
      index,
      measured,
      outsideMs,
      ...(check === undefined ? {} : { check }),
      ...(memoryKept === undefined ? {} : { memoryKept }),
    }
  } catch (error) {
    context.signal.throwIfAborted()
    return { method, index, error: messageOf(error) }
  } finally {
    await resetTarget(subject)
  }
}

/** Starts the source if it is not running, fills redis' memory, lets the writer get going. */
async function prepareSource(subject: Subject): Promise<void> {
  const { context, a, name, workload } = subject
  const { State } = await a.engine.inspectContainer(name)
  if (!State.Running) await docker(context, a.engine.url, ['start', name])
  if (workload.memoryKeys !== undefined) {
    await fillRedisMemory(context, a.engine.url, name, workload.memoryKeys)
  }
  settle()
  await new Promise((resolve) => setTimeout(resolve, workload.runBeforeMs))
}

/** Removes what a migration made at B, the source's checkpoints and the staged files. */
async function resetTarget(subject: Subject): Promise<void> {
  const { context, a, b, name, staging } = subject
  await removeContainer(b, name)
  await removeContainer(b, `${name}-utility`)
  await removeVolume(b, name)
  await removeCheckpoints(context, a.engine.url, name).catch(() => {})
  await rm(staging, { recursive: true, force: true })
  await mkdir(staging, { recursive: true })
}

function describe(result: RunResult): string {
  const { measured } = result
  if (result.error !== undefined || !measured) return `FAILED: ${result.error}`
  const parts = [`own ${seconds(measured.ownMs)} s`]
  if (result.outsideMs !== undefined) parts.push(`outside ${seconds(result.outsideMs)} s`)
  if (result.method !== 'tar') parts.push(`total ${seconds(measured.totalMs)} s`)
  if (measured.fullCopy) parts.push(`full copy ${seconds(measured.fullCopy.ms)} s`)
  if (measured.peakRssKiB !== undefined)
    parts.push(`peak RSS ${(measured.peakRssKiB / 1024).toFixed(0)} MiB`)
  if (result.check !== undefined) parts.push(`data ${result.check}`)
  if (result.memoryKept !== undefined)
    parts.push(
      `memory ${result.memoryKept ? 'kept' : 'lost'}${CHECKPOINTS[result.method] ? '' : ' (cold)'}`,
    )
  return parts.join(', ')
}

/**
 * The methods in a new random order: what ran just before a migration shifts its time
 * (page cache, the memory balloon), so no method may always follow the same one.
 */
function shuffled<T>(items: readonly T[]): T[] {
  const order = [...items]
  for (let last = order.length - 1; last > 0; last--) {
    const other = Math.floor(Math.random() * (last + 1))
    ;[order[last], order[other]] = [order[other] as T, order[last] as T]
  }
  return order
}
