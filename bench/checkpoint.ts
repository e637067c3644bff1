import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import {
  backupVolumes,
  checkDestination,
  connectEngine,
  createTarget,
  type EngineClient,
  inspectSource,
  type MigrationState,
  readManifest,
  restoreVolumes,
  rollbackOnFailure,
  startMigration,
  writeManifest,
} from '../packages/core/src/index.js'
import { backupCheckpoint } from '../packages/core/src/stages/checkpoint/backupCheckpoint.js'
import { checkpointSource } from '../packages/core/src/stages/checkpoint/checkpointSource.js'
import { restoreCheckpoint } from '../packages/core/src/stages/checkpoint/restoreCheckpoint.js'
import { createLocalTransport } from '../packages/transport-local/src/index.js'
import type { BenchContext, Benchmark } from './lib/benchmark.js'
import { docker, labelArgs } from './lib/docker.js'
import { newRunId } from './lib/engines.js'
import { describeLoad, machineLoad } from './lib/machine.js'
import { runProcess } from './lib/process.js'
import { fillRedisMemory, redisKeptMemory } from './lib/redis.js'
import {
  type ColdCopy,
  coldCopyVolumes,
  containerId,
  copyCheckpointDirectory,
  removeCheckpoints,
  startFromCheckpoint,
  utilityMount,
} from './lib/references.js'
import {
  binaryBytes,
  type Column,
  median,
  printTable,
  ratio,
  seconds,
  spread,
} from './lib/table.js'

const MiB = 1024 * 1024
const BENCH_LABEL = 'transship.bench'
const RUN_LABEL = 'transship.bench.run'

/**
 * `pnpm bench checkpoint`: a running redis server holding 256 MiB in memory (no RDB, no
 * AOF) with a 1 GiB volume, migrated A → B (issue 5). Downtime (from the freeze, or the
 * stop, to the target running) and total time of transship's checkpoint pipeline, against
 * (a) the seed's stop-and-copy done with shell commands (stop, tar the volume to a file
 * through a helper container, copy, untar at B through a helper container, start) and
 * (b) plain `docker checkpoint create` + the same volume copy + copying the checkpoint
 * directory + `docker start --checkpoint`.
 */
export const checkpointBenchmark: Benchmark = {
  name: 'checkpoint',
  description:
    'migrate redis holding 256 MiB in memory + a 1 GiB volume A → B with a checkpoint: downtime and total vs stop-and-copy and plain docker checkpoint',
  run,
}

type Method = 'transship' | 'stop-and-copy' | 'docker-checkpoint'

/** One timed migration. */
interface Timing {
  readonly downtimeMs: number
  readonly totalMs: number
  /** Whether the keys held only in memory were there on B. */
  readonly memoryKept: boolean
  /** transship only: the downtime's parts and the checkpoint's size. */
  readonly parts?: { checkpointMs: number; transferMs: number; restoreMs: number }
  readonly checkpointBytes?: number
  /** transship only: `stage-finished` durations by stage, in pipeline order. */
  readonly stages?: ReadonlyMap<string, number>
}

interface Bench {
  readonly context: BenchContext
  readonly a: EngineClient
  readonly b: EngineClient
  readonly runId: string
  /** The container's and its volume's name, the same on B once migrated. */
  readonly name: string
  readonly volume: string
  readonly labels: Record<string, string>
  readonly staging: string
  /** Keys of 1 MiB each that the server holds only in memory. */
  readonly keys: number
}

async function run(context: BenchContext): Promise<void> {
  const { env, settings, cleanup, log } = context
  const runId = newRunId()
  const name = `transship-bench-cp-${runId}`
  const labels = { [BENCH_LABEL]: 'true', [RUN_LABEL]: runId }
  const a = await connectEngine(env.TESTENV_HOST_A)
  cleanup.defer('close engine A', () => a.close())
  const b = await connectEngine(env.TESTENV_HOST_B)
  cleanup.defer('close engine B', () => b.close())
  const staging = await mkdtemp(join(tmpdir(), 'transship-bench-cp-'))
  cleanup.defer(`remove ${staging}`, () => rm(staging, { recursive: true, force: true }))
  cleanup.defer(`remove ${name} on A`, () => sweep(context, env.TESTENV_HOST_A, runId))
  cleanup.defer(`remove ${name} on B`, () => sweep(context, env.TESTENV_HOST_B, runId))

  const volumeMiB = Math.max(1, Math.round(1024 * settings.scale))
  const keys = Math.max(1, Math.round(256 * settings.scale))
  const bench: Bench = { context, a, b, runId, name, volume: name, labels, staging, keys }
  log(`run ${runId}: writing ${volumeMiB} MiB into volume ${name} on A`)
  await docker(context, env.TESTENV_HOST_A, ['volume', 'create', ...labelArgs(labels), name])
  await docker(context, env.TESTENV_HOST_A, [
    'run',
    '--rm',
    ...labelArgs(labels),
    '-v',
    `${name}:/data`,
    env.TESTENV_IMAGE_BUSYBOX,
    'dd',
    'if=/dev/urandom',
    'of=/data/blob',
    'bs=1048576',
    `count=${volumeMiB}`,
  ])
  await docker(context, env.TESTENV_HOST_A, [
    'create',
    '--name',
    name,
    ...labelArgs(labels),
    '-v',
    `${name}:/data`,
    env.TESTENV_IMAGE_REDIS,
  ])

  const methods: readonly Method[] = ['transship', 'stop-and-copy', 'docker-checkpoint']
  const timings = new Map<Method, Timing[]>(methods.map((method) => [method, []]))
  const loadBefore = machineLoad()
  for (let index = 0; index < settings.runs; index++) {
    // Interleaved, so that load that drifts during the run skews every method alike.
    for (const method of methods) {
      context.signal.throwIfAborted()
      await fillMemory(bench)
      const timing = await MEASURE[method](bench, index)
      timings.get(method)?.push(timing)
      log(
        `run ${index + 1}/${settings.runs} ${method}: downtime ${seconds(timing.downtimeMs)} s, total ${seconds(timing.totalMs)} s, memory ${timing.memoryKept ? 'kept' : 'lost'}`,
      )
      await reset(bench)
    }
  }
  print(bench, timings, volumeMiB, [loadBefore, machineLoad()])
}

const MEASURE: Record<Method, (bench: Bench, index: number) => Promise<Timing>> = {
  transship: migrateWithTransship,
  'stop-and-copy': stopAndCopy,
  'docker-checkpoint': plainCheckpoint,
}

/** transship's checkpoint pipeline through the API, with a `file://` staging directory. */
async function migrateWithTransship(bench: Bench, index: number): Promise<Timing> {
  const { a, b, name, context } = bench
  const base = join(bench.staging, `transship-${index}`)
  await mkdir(base)
  const transport = createLocalTransport({ base })
  const id = `${name}-${index}`
  const started = performance.now()
  let state: MigrationState | undefined
  const stages = new Map<string, number>()
  await startMigration({ id, signal: context.signal })
    .pipe(
      inspectSource({ engine: a, container: name }),
      checkDestination({ engine: b, hostAccess: 'warn' }),
      checkpointSource({ engine: a, destination: b }),
      backupCheckpoint({ engine: a, transport }),
      backupVolumes({ engine: a, transport }),
      writeManifest({ transport }),
      readManifest({ transport, id, insecure: true }),
    )
    .pipe(
      restoreVolumes({ engine: b, transport }),
      createTarget({ engine: b }),
      restoreCheckpoint({ engine: b, transport, settleMs: 0 }),
      rollbackOnFailure(),
    )
    .forEach((event) => {
      if (event.type === 'state') state = event.state
      if (event.type === 'stage-finished') stages.set(event.stage, event.durationMs)
    })
  const totalMs = performance.now() - started
  const downtime = state?.downtime
  if (!downtime) throw new Error('transship reported no downtime')
  const { checkpointMs, transferMs, restoreMs } = downtime
  const checkpointBytes = state?.artifacts.find((artifact) => artifact.kind === 'checkpoint')?.size
  return {
    downtimeMs: downtime.totalMs,
    totalMs,
    memoryKept: await memoryKept(bench),
    parts: { checkpointMs, transferMs, restoreMs },
    stages,
    ...(checkpointBytes === undefined ? {} : { checkpointBytes }),
  }
}

/** The seed's cold copy of the volume (lib/references.ts), with this run's names. */
function coldCopy(bench: Bench): ColdCopy {
  const { context, name, volume, labels, staging } = bench
  const { env } = context
  return {
    context,
    a: env.TESTENV_HOST_A,
    b: env.TESTENV_HOST_B,
    source: name,
    paths: ['/data'],
    volumes: [volume],
    utility: `${name}-utility`,
    image: env.TESTENV_IMAGE_BUSYBOX,
    staging,
    labels,
  }
}

/** (a) The seed's method, with shell commands: everything happens while it is stopped. */
async function stopAndCopy(bench: Bench, index: number): Promise<Timing> {
  const { context, name } = bench
  const { env } = context
  const copy = coldCopy(bench)
  const started = performance.now()
  await docker(context, env.TESTENV_HOST_A, ['stop', name])
  await coldCopyVolumes(copy, `stop-${index}`)
  await docker(context, env.TESTENV_HOST_B, createArgs(bench, utilityMount(copy)))
  await docker(context, env.TESTENV_HOST_B, ['start', name])
  const ms = performance.now() - started
  return { downtimeMs: ms, totalMs: ms, memoryKept: await memoryKept(bench) }
}

/**
 * (b) `docker checkpoint create`, the volume copied as in (a), the checkpoint directory
 * copied into the new container's, and `docker start --checkpoint`.
 */
async function plainCheckpoint(bench: Bench, index: number): Promise<Timing> {
  const { context, name } = bench
  const { env } = context
  const copy = coldCopy(bench)
  const checkpoint = `plain-${index}`
  const started = performance.now()
  await docker(context, env.TESTENV_HOST_A, ['checkpoint', 'create', name, checkpoint])
  await coldCopyVolumes(copy, `plain-${index}`)
  const target = (
    await docker(context, env.TESTENV_HOST_B, createArgs(bench, utilityMount(copy)))
  ).trim()
  const roots = { a: env.TESTENV_HOST_A_DATA_ROOT, b: env.TESTENV_HOST_B_DATA_ROOT }
  const source = await containerId(context, env.TESTENV_HOST_A, name)
  await copyCheckpointDirectory(roots, source, target, checkpoint)
  await startFromCheckpoint(context, env.TESTENV_HOST_B, name, checkpoint)
  const ms = performance.now() - started
  return { downtimeMs: ms, totalMs: ms, memoryKept: await memoryKept(bench) }
}

function createArgs(bench: Bench, mounts: readonly string[]): string[] {
  const { name, labels, context } = bench
  return [
    'create',
    '--name',
    name,
    ...labelArgs(labels),
    ...mounts,
    context.env.TESTENV_IMAGE_REDIS,
  ]
}

/** Starts the source if it is not running, and fills the server's memory with keys. */
async function fillMemory(bench: Bench): Promise<void> {
  const { context, name, keys } = bench
  const host = context.env.TESTENV_HOST_A
  const running = await docker(context, host, ['inspect', '-f', '{{.State.Running}}', name])
  if (running.trim() !== 'true') await docker(context, host, ['start', name])
  await fillRedisMemory(context, host, name, keys)
}

async function memoryKept(bench: Bench): Promise<boolean> {
  const { context, name, keys } = bench
  return redisKeptMemory(context, context.env.TESTENV_HOST_B, name, keys)
}

/**
 * Removes the target, the utility container and the volume from B, the staging files,
 * and A's checkpoints.
 */
async function reset(bench: Bench): Promise<void> {
  const { context, name, volume } = bench
  const { env } = context
  await runProcess('docker', ['-H', env.TESTENV_HOST_B, 'rm', '-f', '-v', name])
  await runProcess('docker', ['-H', env.TESTENV_HOST_B, 'rm', '-f', '-v', `${name}-utility`])
  await runProcess('docker', ['-H', env.TESTENV_HOST_B, 'volume', 'rm', volume])
  await removeCheckpoints(context, env.TESTENV_HOST_A, name)
  await rm(bench.staging, { recursive: true, force: true })
  await mkdir(bench.staging)
}

async function sweep(context: BenchContext, host: string, runId: string): Promise<void> {
  const filter = `label=${RUN_LABEL}=${runId}`
  const ids = (await docker(context, host, ['ps', '-aq', '--filter', filter])).split('\n')
  for (const id of ids.filter(Boolean))
    await runProcess('docker', ['-H', host, 'rm', '-f', '-v', id])
  const volumes = (await docker(context, host, ['volume', 'ls', '-q', '--filter', filter])).split(
    '\n',
  )
  for (const volume of volumes.filter(Boolean)) {
    await runProcess('docker', ['-H', host, 'volume', 'rm', volume])
  }
}

const COLUMNS: readonly Column[] = [
  { title: 'method', align: 'left' },
  { title: 'downtime s' },
  { title: 'min-max' },
  { title: 'total s' },
  { title: 'min-max' },
  { title: 'downtime/transship' },
  { title: 'total/transship' },
  { title: 'memory', align: 'left' },
]

const LABELS: Record<Method, string> = {
  transship: 'transship (checkpoint, API, file://)',
  'stop-and-copy': '(a) stop, tar, copy, untar, start',
  'docker-checkpoint': '(b) docker checkpoint, copy, start --checkpoint',
}

function print(
  bench: Bench,
  timings: ReadonlyMap<Method, Timing[]>,
  volumeMiB: number,
  load: readonly [ReturnType<typeof machineLoad>, ReturnType<typeof machineLoad>],
): void {
  const reference = timings.get('transship') ?? []
  const refDowntime = median(reference.map((t) => t.downtimeMs))
  const refTotal = median(reference.map((t) => t.totalMs))
  const rows = [...timings].map(([method, runs]) => {
    const downtime = runs.map((t) => t.downtimeMs)
    const total = runs.map((t) => t.totalMs)
    const kept = runs.filter((t) => t.memoryKept).length
    return [
      LABELS[method],
      seconds(median(downtime)),
      spread(downtime),
      seconds(median(total)),
      spread(total),
      ratio(median(downtime), refDowntime),
      ratio(median(total), refTotal),
      kept === runs.length ? 'kept' : kept === 0 ? 'lost' : `kept ${kept}/${runs.length}`,
    ]
  })
  const part = (pick: (t: Timing) => number | undefined) =>
    seconds(median(reference.map((t) => pick(t) ?? Number.NaN)))
  const size = median(reference.map((t) => t.checkpointBytes ?? Number.NaN))
  const stageNames = [...(reference[0]?.stages?.keys() ?? [])]
  const stageLine = stageNames
    .map((stage) => `${stage} ${part((t) => t.stages?.get(stage))}`)
    .join(', ')
  printTable(
    `checkpoint migration A → B: redis holding ${bench.keys} MiB in memory + a ${binaryBytes(volumeMiB * MiB)} volume (median of ${reference.length} runs)`,
    COLUMNS,
    rows,
    [
      `transship's downtime: freeze ${part((t) => t.parts?.checkpointMs)} s, transfer ${part((t) => t.parts?.transferMs)} s, restore ${part((t) => t.parts?.restoreMs)} s; checkpoint ${binaryBytes(size)}`,
      `transship's stages (s): ${stageLine}`,
      'downtime: from the freeze (checkpoint) or the stop to the target started on B; (a) and (b) do everything while the container is down, so their total is their downtime.',
      'transship: the stages through the API in this process (not the CLI), staging in a file:// directory on the same disk; (a) and (b): the docker CLI, files copied with cp.',
      describeLoad(load[0], load[1]),
    ],
  )
}
