import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import type { BenchContext, Benchmark } from '../lib/benchmark.js'
import { summarizeTree, type TreeSummary, writeLargeFiles, writeSmallFiles } from '../lib/data.js'
import {
  createVolume,
  type Host,
  newRunId,
  openHost,
  removeContainer,
  removeVolume,
  runLabels,
  volumeDir,
} from '../lib/engines.js'
import { describeLoad, type MachineLoad, machineLoad } from '../lib/machine.js'
import { describeRssMethod, type RssMethod, rssMethod } from '../lib/process.js'
import {
  binaryBytes,
  type Column,
  mbPerSecond,
  median,
  printTable,
  ratio,
  seconds,
  spread,
} from '../lib/table.js'
import {
  DATA_STAGES,
  type MigrationRun,
  migrateWithApi,
  migrateWithCli,
  referenceCopy,
  type Subject,
  undoMigration,
} from './migrations.js'

const GiB = 1024 ** 3

/**
 * `pnpm bench volumes`: volume migration from A to B through the local transport
 * (`file://` staging on the same disk), as `transship migrate` does it, against a plain
 * `tar c | tar x` of the same data between the two engines' volume directories; and the
 * peak RSS of the transship process for a 1 GiB and a 4 GiB volume (issue 3).
 */
export const volumesBenchmark: Benchmark = {
  name: 'volumes',
  description:
    'migrate a 1 GiB volume and 50,000 small files A → B (file://) vs tar c | tar x; peak RSS 1 vs 4 GiB',
  run,
}

/** One volume to migrate: its content, and what to measure with it. */
interface CaseSpec {
  /** Part of the container's and volume's name. */
  readonly id: string
  /** For table titles, e.g. `1 GiB in 4 files`. */
  readonly label: string
  readonly fill: (dir: string, signal: AbortSignal) => Promise<void>
  /** Timed CLI migrations. */
  readonly runs: number
  /** Also time the reference copy (each run) and the API (once). */
  readonly compare: boolean
}

interface CaseResult {
  readonly spec: CaseSpec
  readonly data: TreeSummary
  /** The reference copy's time in each run, before that run's CLI migration. */
  readonly reference: number[]
  readonly cli: MigrationRun[]
  /** The same CLI migration with plain staging (`--no-encrypt`), each run after the sealed one. */
  readonly plain: MigrationRun[]
  readonly api?: MigrationRun
  /** The machine's load when the timed runs began and ended. */
  readonly load: readonly [MachineLoad, MachineLoad]
}

interface Run {
  readonly context: BenchContext
  readonly a: Host
  readonly b: Host
  readonly runId: string
  readonly prefix: string
  readonly staging: string
  readonly rss: RssMethod
}

async function run(context: BenchContext): Promise<void> {
  const { settings, cleanup, log } = context
  const runId = newRunId()
  const prefix = `transship-bench-${runId}`
  const a = await openHost(context, 'A', { runId, prefix })
  const b = await openHost(context, 'B', { runId, prefix })
  const staging = await mkdtemp(join(tmpdir(), 'transship-bench-'))
  cleanup.defer(`remove ${staging}`, () => rm(staging, { recursive: true, force: true }))
  const [stagingDevice, dataDevice] = await Promise.all([stat(staging), stat(a.dataRoot)])
  if (stagingDevice.dev !== dataDevice.dev) {
    log(`note: staging ${staging} is not on the same file system as ${a.dataRoot}`)
  }
  const bench: Run = { context, a, b, runId, prefix, staging, rss: rssMethod(settings.rss) }
  log(`run ${runId}: staging in ${pathToFileURL(staging).href}, peak RSS from ${bench.rss}`)

  const { scale, runs } = settings
  const oneGiB = Math.max(1, Math.round(GiB * scale))
  const large = await measureCase(bench, {
    id: 'large',
    label: `${binaryBytes(oneGiB)} in 4 files`,
    fill: (dir, signal) => writeLargeFiles(dir, oneGiB, 4, signal),
    runs,
    compare: true,
  })
  printComparison(large, runs)

  const smallCount = Math.max(1, Math.round(50_000 * scale))
  const small = await measureCase(bench, {
    id: 'small',
    label: `${smallCount.toLocaleString('en-US')} small files of 1-8192 bytes`,
    fill: async (dir, signal) => writeSmallFiles(dir, smallCount, signal),
    runs,
    compare: true,
  })
  printComparison(small, runs)

  const fourGiB = Math.max(1, Math.round(4 * GiB * scale))
  const files = Math.max(1, Math.round(fourGiB / (oneGiB / 4)))
  const huge = await measureCase(bench, {
    id: 'huge',
    label: `${binaryBytes(fourGiB)} in ${files} files`,
    fill: (dir, signal) => writeLargeFiles(dir, fourGiB, files, signal),
    runs: 1,
    compare: false,
  })
  printPeakRss([large, huge, small], bench.rss, [large.load[0], huge.load[1]])
}

async function measureCase(bench: Run, spec: CaseSpec): Promise<CaseResult> {
  const { context, a, b, prefix, runId, staging } = bench
  const { signal, log } = context
  const labels = runLabels(runId)
  const name = `${prefix}-${spec.id}`
  try {
    const dir = await createVolume(a, name, labels)
    log(`${spec.id}: writing ${spec.label} into volume ${name} on A`)
    const written = performance.now()
    await spec.fill(dir, signal)
    const data = summarizeTree(dir)
    log(
      `${spec.id}: ${data.files} files, ${data.directories} directories, ${data.bytes} bytes in ${seconds(performance.now() - written)} s`,
    )
    await a.engine.createContainer({
      name,
      Image: context.env.TESTENV_IMAGE_BUSYBOX,
      // Exits on SIGTERM at once, so `stop` does not wait for its 10 s timeout.
      Cmd: ['sh', '-c', 'trap "exit 0" TERM; sleep 86400 & wait'],
      Labels: labels,
      HostConfig: { Mounts: [{ Type: 'volume', Source: name, Target: '/data' }] },
    })
    const subject: Subject = { a, b, name, staging, signal }
    const check = (what: string) => (copy: string) => sameTree(what, data, summarizeTree(copy))

    const reference: number[] = []
    const cli: MigrationRun[] = []
    const plain: MigrationRun[] = []
    const loadBefore = machineLoad()
    for (let index = 0; index < spec.runs; index++) {
      const first = index === 0
      if (spec.compare) {
        const ms = await referenceCopy(
          subject,
          `${name}-ref${index}`,
          labels,
          first ? check('the reference copy') : undefined,
        )
        reference.push(ms)
        log(`${spec.id} run ${index + 1}/${spec.runs}: tar c | tar x ${seconds(ms)} s`)
      }
      const migrated = await migrateWithCli(subject, bench.rss)
      if (first) check('the migrated volume')(volumeDir(b, name))
      await leftInStaging(bench, await undoMigration(subject))
      cli.push(migrated)
      log(
        `${spec.id} run ${index + 1}/${spec.runs}: transship migrate (CLI) ${seconds(migrated.ms)} s, peak RSS ${kib(migrated.peakRssKiB)}`,
      )
      if (spec.compare) {
        const unsealed = await migrateWithCli(subject, bench.rss, ['--no-encrypt'])
        await leftInStaging(bench, await undoMigration(subject))
        plain.push(unsealed)
        log(`${spec.id} run ${index + 1}/${spec.runs}: --no-encrypt ${seconds(unsealed.ms)} s`)
      }
    }
    let api: MigrationRun | undefined
    if (spec.compare) {
      api = await migrateWithApi(subject)
      await leftInStaging(bench, await undoMigration(subject))
      log(`${spec.id}: transship migrate (API) ${seconds(api.ms)} s`)
    }
    const load = [loadBefore, machineLoad()] as const
    return { spec, data, reference, cli, plain, load, ...(api ? { api } : {}) }
  } finally {
    // Free the disk for the next case; the run's sweep catches anything left.
    await removeContainer(a, name)
    await removeVolume(a, name)
  }
}

async function leftInStaging(bench: Run, left: string[]): Promise<void> {
  if (left.length > 0) {
    bench.context.log(`warning: the migration left ${left.join(', ')} in ${bench.staging}`)
  }
}

function sameTree(what: string, expected: TreeSummary, actual: TreeSummary): void {
  if (
    actual.files !== expected.files ||
    actual.directories !== expected.directories ||
    actual.bytes !== expected.bytes
  ) {
    throw new Error(
      `${what} differs from the source: ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`,
    )
  }
}

const COMPARISON: readonly Column[] = [
  { title: 'case', align: 'left' },
  { title: 'seconds' },
  { title: 'min-max' },
  { title: 'MB/s' },
  { title: 'ref/case' },
  { title: 'case/ref' },
]

function printComparison(result: CaseResult, runs: number): void {
  const { data, reference, cli, plain, api } = result
  const refMs = median(reference)
  // Each run's ratio to the reference copy timed just before it, then the median: load
  // that drifts during the benchmark skews a pair less than it skews two medians.
  const row = (label: string, ms: readonly number[]): string[] => {
    const at = median(ms)
    const paired = ms.length === reference.length
    const pair = (index: number) => reference[index] ?? Number.NaN
    return [
      label,
      seconds(at),
      spread(ms),
      mbPerSecond(data.bytes, at),
      paired ? fixed(median(ms.map((x, i) => pair(i) / x))) : ratio(refMs, at),
      paired ? fixed(median(ms.map((x, i) => x / pair(i)))) : ratio(at, refMs),
    ]
  }
  const stage = (name: string) => cli.map((run) => run.stages.get(name) ?? Number.NaN)
  const dataPhases = cli.map((run) =>
    DATA_STAGES.reduce((sum, name) => sum + (run.stages.get(name) ?? Number.NaN), 0),
  )
  const rows = [
    row('tar c | tar x on the host (reference)', reference),
    row(
      'transship migrate, CLI process (whole)',
      cli.map((run) => run.ms),
    ),
    ...(plain.length > 0
      ? [
          row(
            'transship migrate --no-encrypt (plain staging)',
            plain.map((run) => run.ms),
          ),
        ]
      : []),
    ...(api ? [row('transship migrate, API in-process (1 run)', [api.ms])] : []),
    row('volume phases: pre-copy + sync after the freeze', dataPhases),
    ...DATA_STAGES.map((name) => row(`  ${name}`, stage(name))),
  ]
  printTable(
    `volumes: ${result.spec.label} (${(data.bytes / 1e6).toFixed(1)} MB of file data), ` +
      `A → B through file:// staging, median of ${runs} run${runs === 1 ? '' : 's'}`,
    COMPARISON,
    rows,
    [
      'MB/s: file data over the time; ref/case > 1: faster than the reference. Ratios are the',
      'median of per-run ratios, each run paired with the reference copy timed just before it',
      '(the API run, timed once, is compared with the median reference).',
      `CLI time by stage (median s): ${stageBreakdown(cli)}`,
      ...(plain.length === cli.length && plain.length > 0
        ? [
            `encryption cost: sealed / plain staging, median of per-run ratios = ${fixed(
              median(cli.map((run, i) => run.ms / (plain[i]?.ms ?? Number.NaN))),
            )} (target ≤ 1.15)`,
          ]
        : []),
      describeLoad(...result.load),
    ],
  )
}

function fixed(value: number): string {
  return value.toFixed(2)
}

/** Each stage's median, then what the CLI spent outside the stages (startup, exit). */
function stageBreakdown(runs: readonly MigrationRun[]): string {
  const names = [...new Set(runs.flatMap((run) => [...run.stages.keys()]))]
  const parts = names.map(
    (name) => `${name} ${seconds(median(runs.map((run) => run.stages.get(name) ?? 0)))}`,
  )
  const outside = median(
    runs.map((run) => run.ms - [...run.stages.values()].reduce((sum, ms) => sum + ms, 0)),
  )
  return [`outside stages (node + tsx startup, connect, exit) ${seconds(outside)}`, ...parts].join(
    ', ',
  )
}

function printPeakRss(
  results: readonly CaseResult[],
  method: RssMethod,
  load: readonly [MachineLoad, MachineLoad],
): void {
  const peak = (result: CaseResult) => median(result.cli.map((run) => run.peakRssKiB ?? Number.NaN))
  const base = results[0] ? peak(results[0]) : Number.NaN
  const rows = results.map((result) => {
    const ms = median(result.cli.map((run) => run.ms))
    return [
      result.spec.label,
      String(result.cli.length),
      (peak(result) / 1024).toFixed(1),
      ratio(peak(result), base),
      seconds(ms),
      mbPerSecond(result.data.bytes, ms),
    ]
  })
  printTable(
    'volumes: peak RSS of the transship migrate process (node + tsx), by volume',
    [
      { title: 'volume', align: 'left' },
      { title: 'runs' },
      { title: 'peak RSS MiB' },
      { title: 'vs 1st row' },
      { title: 'seconds' },
      { title: 'MB/s' },
    ],
    rows,
    [
      `Peak RSS: ${describeRssMethod(method)}, median of the runs; everything streams, so it`,
      'should not grow with the volume. seconds and MB/s: the whole CLI migration.',
      describeLoad(...load),
    ],
  )
}

function kib(value: number | undefined): string {
  return value === undefined ? '?' : `${(value / 1024).toFixed(1)} MiB`
}
