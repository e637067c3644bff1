import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  backupLayer,
  connectEngine,
  createTarget,
  inspectSource,
  readManifest,
  restoreLayer,
  startMigration,
  stopSource,
  writeManifest,
} from '../packages/core/src/index.js'
import { DERIVED_IMAGE_REPOSITORY } from '../packages/core/src/stages/layer/restoreLayer.js'
import { createLocalTransport } from '../packages/transport-local/src/index.js'
import type { BenchContext, Benchmark } from './lib/benchmark.js'
import { docker, labelArgs } from './lib/docker.js'
import { newRunId } from './lib/engines.js'
import { describeLoad, type MachineLoad, machineLoad } from './lib/machine.js'
import { pipelineResult } from './lib/pipeline.js'
import { mustRun, runProcess } from './lib/process.js'
import {
  binaryBytes,
  type Column,
  mbPerSecond,
  median,
  printTable,
  ratio,
  seconds,
  spread,
} from './lib/table.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const BENCH_LABEL = 'transship.bench'
const RUN_LABEL = 'transship.bench.run'
/** The large files the 1 GiB is split into. */
const LARGE_FILES = 4
/** Small files per directory. */
const FILES_PER_DIRECTORY = 200

/**
 * `pnpm bench layer`: the container layer A → B (issue 4). A stopped container on A whose
 * layer holds 1 GiB of random data in a few large files plus 20,000 small files goes
 * through the `backup-layer` stage into a `file://` staging directory, then through the
 * `restore-layer` stage into a target that `createTarget` made on B. The reference is
 * `docker export` of the same container piped to /dev/null (the whole filesystem, image
 * included, read once, written nowhere).
 */
export const layerBenchmark: Benchmark = {
  name: 'layer',
  description:
    'container layer (1 GiB + 20,000 small files) A → B (file://): backup-layer, restore-layer vs docker export > /dev/null',
  run,
}

interface Bench {
  readonly context: BenchContext
  readonly runId: string
  readonly prefix: string
  readonly source: string
  readonly labels: Record<string, string>
  readonly staging: string
}

/** One run of the stages. */
interface StagesRun {
  readonly backupMs: number
  readonly restoreMs: number
  /** Size of the layer artifact (`layer.tar`). */
  readonly bytes: number
  readonly changes: number
}

async function run(context: BenchContext): Promise<void> {
  const { env, settings, cleanup, log } = context
  const runId = newRunId()
  const prefix = `transship-bench-layer-${runId}`
  const labels = { [BENCH_LABEL]: 'true', [RUN_LABEL]: runId }
  cleanup.defer(`remove ${prefix} containers on A`, () => sweep(env.TESTENV_HOST_A, runId))
  cleanup.defer(`remove ${prefix} containers and images on B`, () =>
    sweep(env.TESTENV_HOST_B, runId, prefix),
  )
  const staging = await mkdtemp(join(tmpdir(), 'transship-bench-layer-'))
  cleanup.defer(`remove ${staging}`, () => rm(staging, { recursive: true, force: true }))
  const bench: Bench = { context, runId, prefix, source: `${prefix}-source`, labels, staging }

  const largeBytes = Math.max(LARGE_FILES, Math.round(GiB * settings.scale))
  const smallFiles = Math.max(1, Math.round(20_000 * settings.scale))
  log(
    `run ${runId}: writing ${binaryBytes(largeBytes)} in ${LARGE_FILES} files of random data ` +
      `and ${smallFiles} small files into the layer of ${bench.source} on A`,
  )
  await makeSource(bench, largeBytes, smallFiles)
  const sourceChanges = await diffLines(bench, env.TESTENV_HOST_A, bench.source)
  // Untimed: the export's size, and a first read that puts the layer in the page cache for
  // every case alike.
  const exportBytes = await exportSize(bench)
  log(`docker diff lists ${sourceChanges} changes; docker export is ${binaryBytes(exportBytes)}`)

  const stages: StagesRun[] = []
  const exportMs: number[] = []
  const loadBefore = machineLoad()
  for (let index = 0; index < settings.runs; index++) {
    context.signal.throwIfAborted()
    // Interleaved, so that load that drifts during the run skews both alike.
    const ms = await exportToNull(bench)
    exportMs.push(ms)
    const measured = await migrateLayer(bench, index)
    if (measured.changes !== sourceChanges) {
      throw new Error(
        `the target on B lists ${measured.changes} changes in docker diff, the source ${sourceChanges}`,
      )
    }
    stages.push(measured)
    log(
      `run ${index + 1}/${settings.runs}: docker export ${seconds(ms)} s, ` +
        `backup-layer ${seconds(measured.backupMs)} s, restore-layer ${seconds(measured.restoreMs)} s ` +
        `(${binaryBytes(measured.bytes)})`,
    )
  }
  print({ largeBytes, smallFiles, sourceChanges, exportBytes, stages, exportMs, settings }, [
    loadBefore,
    machineLoad(),
  ])
}

/**
 * The source: busybox on A, run once to write its files, and left stopped. The large files
 * are random (incompressible); the small ones are ~1 KiB each, 200 to a directory, written
 * by the shell's builtins (no process per file).
 */
async function makeSource(bench: Bench, largeBytes: number, smallFiles: number): Promise<void> {
  const { context, source, labels } = bench
  const perFile = Math.floor(largeBytes / LARGE_FILES)
  const wholeMiB = Math.floor(perFile / MiB)
  const rest = perFile - wholeMiB * MiB
  const script = `set -e
mkdir -p /bench/large /bench/small
for n in $(seq 1 ${LARGE_FILES}); do
  dd if=/dev/urandom of=/bench/large/blob-$n bs=${MiB} count=${wholeMiB} 2>/dev/null
  ${rest > 0 ? `head -c ${rest} /dev/urandom >> /bench/large/blob-$n` : ':'}
done
chunk=$(head -c 768 /dev/urandom | base64 | tr -d '\\n')
i=0
while [ $i -lt ${smallFiles} ]; do
  d=/bench/small/d$((i / ${FILES_PER_DIRECTORY}))
  [ -d $d ] || mkdir $d
  echo "$i $chunk" > $d/f$i
  i=$((i + 1))
done
sync`
  await docker(context, context.env.TESTENV_HOST_A, [
    'run',
    '--name',
    source,
    ...labelArgs(labels),
    '--network',
    'none',
    context.env.TESTENV_IMAGE_BUSYBOX,
    'sh',
    '-c',
    script,
  ])
}

/** `backup-layer` into a fresh staging directory, then `restore-layer` into a target on B. */
async function migrateLayer(bench: Bench, index: number): Promise<StagesRun> {
  const { context, prefix, source } = bench
  const { env } = context
  const base = join(bench.staging, `run-${index}`)
  await mkdir(base)
  const transport = createLocalTransport({ base })
  const id = `${prefix}-${index}`
  const target = `${prefix}-target-${index}`
  const a = await connectEngine(env.TESTENV_HOST_A)
  const b = await connectEngine(env.TESTENV_HOST_B)
  try {
    const backup = await pipelineResult(
      startMigration({ id, signal: context.signal }).pipe(
        inspectSource({ engine: a, container: source }),
        stopSource({ engine: a }),
        backupLayer({ engine: a, transport }),
        writeManifest({ transport }),
      ),
    )
    const artifact = backup.state.artifacts.find((candidate) => candidate.kind === 'layer')
    if (!artifact) throw new Error('the backup carries no layer')
    if (backup.state.layer?.method !== 'overlay2') {
      throw new Error(`expected the overlay2 method on A, got ${backup.state.layer?.method}`)
    }
    const restore = await pipelineResult(
      startMigration({ id, signal: context.signal }).pipe(
        readManifest({ transport, id, insecure: true }),
        createTarget({ engine: b, name: target }),
        restoreLayer({ engine: b, transport }),
      ),
    )
    const changes = await diffLines(bench, env.TESTENV_HOST_B, target)
    return {
      backupMs: backup.stages.get('backup-layer') ?? Number.NaN,
      restoreMs: restore.stages.get('restore-layer') ?? Number.NaN,
      bytes: artifact.size,
      changes,
    }
  } finally {
    await runProcess('docker', ['-H', env.TESTENV_HOST_B, 'rm', '-f', '-v', target])
    await rm(base, { recursive: true, force: true })
    await a.close()
    await b.close()
  }
}

/** The reference: `docker export` of the stopped source, piped to /dev/null. */
async function exportToNull(bench: Bench): Promise<number> {
  const { context, source } = bench
  const finished = await mustRun(
    'sh',
    ['-c', 'exec docker -H "$1" export "$2" > /dev/null', 'sh', context.env.TESTENV_HOST_A, source],
    { signal: context.signal },
  )
  return finished.ms
}

async function exportSize(bench: Bench): Promise<number> {
  const { context, source } = bench
  const counted = await mustRun(
    'sh',
    ['-c', 'docker -H "$1" export "$2" | wc -c', 'sh', context.env.TESTENV_HOST_A, source],
    { signal: context.signal },
  )
  return Number(counted.stdout.trim())
}

/** How many lines `docker diff` prints for a container. */
async function diffLines(bench: Bench, host: string, container: string): Promise<number> {
  const out = await docker(bench.context, host, ['diff', container])
  return out.split('\n').filter(Boolean).length
}

/**
 * Removes this run's containers (the source, targets; labelled with the run's id, which
 * createTarget copies from the source) and, on B, any derived image the restore made
 * (only where B has no overlay2 UpperDir). Not aborted by the signal: it runs after Ctrl-C.
 */
async function sweep(host: string, runId: string, prefix?: string): Promise<void> {
  const filter = `label=${RUN_LABEL}=${runId}`
  const listed = await mustRun('docker', ['-H', host, 'ps', '-aq', '--filter', filter])
  const ids = listed.stdout.split('\n').filter(Boolean)
  if (ids.length > 0) await mustRun('docker', ['-H', host, 'rm', '-f', '-v', ...ids])
  if (prefix === undefined) return
  const images = await mustRun('docker', [
    '-H',
    host,
    'images',
    '-q',
    '--filter',
    `reference=${DERIVED_IMAGE_REPOSITORY}:${prefix}*`,
  ])
  const imageIds = [...new Set(images.stdout.split('\n').filter(Boolean))]
  if (imageIds.length > 0) await mustRun('docker', ['-H', host, 'rmi', '-f', ...imageIds])
}

const COLUMNS: readonly Column[] = [
  { title: 'case', align: 'left' },
  { title: 'bytes' },
  { title: 's' },
  { title: 'min–max' },
  { title: 'MB/s' },
  { title: 's/export' },
]

interface Results {
  readonly largeBytes: number
  readonly smallFiles: number
  readonly sourceChanges: number
  readonly exportBytes: number
  readonly stages: readonly StagesRun[]
  readonly exportMs: readonly number[]
  readonly settings: BenchContext['settings']
}

function print(results: Results, load: readonly [MachineLoad, MachineLoad]): void {
  const { stages, exportMs, exportBytes, settings } = results
  const bytes = stages[0]?.bytes ?? Number.NaN
  const backup = stages.map((s) => s.backupMs)
  const restore = stages.map((s) => s.restoreMs)
  const total = stages.map((s) => s.backupMs + s.restoreMs)
  const reference = median(exportMs)
  const row = (label: string, size: number, ms: readonly number[]): string[] => [
    label,
    binaryBytes(size),
    seconds(median(ms)),
    spread(ms),
    mbPerSecond(size, median(ms)),
    ratio(median(ms), reference),
  ]
  const runs = settings.runs
  printTable(
    `layer: ${binaryBytes(results.largeBytes)} of random data in ${LARGE_FILES} files + ` +
      `${results.smallFiles} small files (${results.sourceChanges} changes in docker diff), ` +
      `A → B via file:// staging; median of ${runs} run${runs === 1 ? '' : 's'}`,
    COLUMNS,
    [
      row('backup-layer (A → staging)', bytes, backup),
      row('restore-layer (staging → target on B)', bytes, restore),
      row('backup-layer + restore-layer', bytes, total),
      row('docker export > /dev/null (reference)', exportBytes, exportMs),
    ],
    [
      'bytes: the layer artifact (layer.tar) for the stages, the export stream for docker export; ' +
        's: the stages\u2019 own durations (stage-finished) and the export\u2019s wall time; s/export: ' +
        'seconds over the reference\u2019s',
      describeLoad(load[0], load[1]),
    ],
  )
}
