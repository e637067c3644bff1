import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import {
  type Compression,
  findCodec,
  generateKeyFile,
  type MigrationEvent,
} from '../packages/core/src/index.js'
import type { BenchContext, Benchmark } from './lib/benchmark.js'
import {
  type Content,
  summarizeTree,
  type TreeSummary,
  writeLargeFiles,
  writeSmallFiles,
  writeTextFiles,
} from './lib/data.js'
import { createVolume, type Host, newRunId, openHost, runLabels } from './lib/engines.js'
import { describeLoad, machineLoad } from './lib/machine.js'
import { runProcess, tail } from './lib/process.js'
import { binaryBytes, mbPerSecond, median, printTable, ratio, seconds } from './lib/table.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI_MAIN = join(ROOT, 'packages/cli/src/main.ts')
const GiB = 1024 ** 3

/** The choices of `--compress`, the reference first. */
const CHOICES: readonly Compression[] = ['none', 'gzip', 'zstd']

/**
 * `pnpm bench compression`: `transship backup --compress none|gzip|zstd` (sealed, through
 * file:// staging) of the 1 GiB volume and of the 50,000-file volume, each with random
 * (incompressible) content, as `pnpm bench volumes` has them, and with log-like text: the
 * bytes staged and the time, side by side in one run, with ratios to `none`.
 */
export const compressionBenchmark: Benchmark = {
  name: 'compression',
  description:
    'backup --compress none vs gzip vs zstd: bytes staged and time, 1 GiB and 50,000 files, random and text',
  run,
}

/** One volume to back up. */
interface CaseSpec {
  readonly id: string
  readonly label: string
  readonly fill: (dir: string, signal: AbortSignal) => Promise<void> | void
}

/** A timed backup: wall time of the CLI process, and the bytes its backup holds. */
interface Measured {
  readonly ms: number
  readonly bytes: number
}

async function run(context: BenchContext): Promise<void> {
  const { settings, cleanup, log } = context
  const runId = newRunId()
  const prefix = `transship-bench-${runId}`
  const a = await openHost(context, 'A', { runId, prefix })
  const work = await mkdtemp(join(tmpdir(), 'transship-bench-compression-'))
  cleanup.defer(`remove ${work}`, () => rm(work, { recursive: true, force: true }))
  const keyFile = join(work, 'backup.key')
  await generateKeyFile(keyFile)
  log(`run ${runId}: zstd from ${findCodec('zstd')?.from ?? 'nowhere (gzip instead)'}`)

  const oneGiB = Math.max(1, Math.round(GiB * settings.scale))
  const smallCount = Math.max(1, Math.round(50_000 * settings.scale))
  const specs = (['random', 'text'] as const satisfies readonly Content[]).flatMap((content) => [
    {
      id: `large-${content}`,
      label: `${binaryBytes(oneGiB)} in 4 files, ${content}`,
      fill: (dir: string, signal: AbortSignal) =>
        content === 'random'
          ? writeLargeFiles(dir, oneGiB, 4, signal)
          : writeTextFiles(dir, oneGiB, 4, signal),
    },
    {
      id: `small-${content}`,
      label: `${smallCount.toLocaleString('en-US')} files of 1-8192 bytes, ${content}`,
      fill: (dir: string, signal: AbortSignal) => writeSmallFiles(dir, smallCount, signal, content),
    },
  ])
  for (const spec of specs) {
    await measureCase(context, { a, prefix, runId, work, keyFile }, spec)
  }
}

async function measureCase(
  context: BenchContext,
  bench: { a: Host; prefix: string; runId: string; work: string; keyFile: string },
  spec: CaseSpec,
): Promise<void> {
  const { signal, log, settings } = context
  const { a, prefix, runId, work } = bench
  const name = `${prefix}-${spec.id}`
  const labels = runLabels(runId)
  const dir = await createVolume(a, name, labels)
  await spec.fill(dir, signal)
  const data = summarizeTree(dir)
  log(`${spec.id}: ${data.files} files, ${data.bytes} bytes`)
  await a.engine.createContainer({
    name,
    Image: context.env.TESTENV_IMAGE_BUSYBOX,
    Cmd: ['sh', '-c', 'trap "exit 0" TERM; sleep 86400 & wait'],
    Labels: labels,
    HostConfig: { Mounts: [{ Type: 'volume', Source: name, Target: '/data' }] },
  })
  await a.engine.call(`start ${name}`, (docker) => docker.getContainer(name).start())
  const staging = join(work, spec.id)
  const results = new Map<Compression, Measured[]>(CHOICES.map((choice) => [choice, []]))
  const loadBefore = machineLoad()
  for (let index = 0; index < settings.runs; index++) {
    // Each run in another order, so that no choice always follows the same one.
    const order = [...CHOICES.slice(index % 3), ...CHOICES.slice(0, index % 3)]
    for (const choice of order) {
      const measured = await backupOnce(context, bench, name, staging, choice)
      results.get(choice)?.push(measured)
      log(
        `${spec.id} run ${index + 1}/${settings.runs} --compress ${choice}: ${seconds(measured.ms)} s, ${measured.bytes} bytes`,
      )
    }
  }
  printResults(spec, data, results, describeLoad(loadBefore, machineLoad()))
}

/** One `transship backup` of the container, timed; its backup measured, then removed. */
async function backupOnce(
  context: BenchContext,
  bench: { a: Host; keyFile: string },
  name: string,
  staging: string,
  choice: Compression,
): Promise<Measured> {
  const finished = await runProcess(
    process.execPath,
    [
      '--import',
      'tsx',
      CLI_MAIN,
      'backup',
      name,
      '--from',
      bench.a.engine.url,
      '--via',
      pathToFileURL(staging).href,
      '--compress',
      choice,
      '--no-checkpoint',
      '--no-image',
      '--leave-running',
      '--key-file',
      bench.keyFile,
      '--json',
    ],
    { cwd: ROOT, signal: context.signal },
  )
  if (finished.code !== 0) {
    context.signal.throwIfAborted()
    throw new Error(`transship backup exited with ${finished.code}: ${tail(finished.stderr)}`)
  }
  const summary = finished.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as MigrationEvent)
    .find((event) => event.type === 'summary')
  const url = summary?.type === 'summary' ? summary.backupUrl : undefined
  if (!url) throw new Error(`transship backup printed no backup URL: ${tail(finished.stdout)}`)
  const backupDir = fileURLToPath(url)
  const bytes = await bytesUnder(backupDir)
  await rm(backupDir, { recursive: true, force: true })
  return { ms: finished.ms, bytes }
}

async function bytesUnder(dir: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(dir, { recursive: true })) {
    const info = await stat(join(dir, entry))
    if (info.isFile()) total += info.size
  }
  return total
}

function printResults(
  spec: CaseSpec,
  data: TreeSummary,
  results: ReadonlyMap<Compression, Measured[]>,
  load: string,
): void {
  const of = (choice: Compression) => {
    const runs = results.get(choice) ?? []
    return {
      ms: median(runs.map((r) => r.ms)),
      bytes: median(runs.map((r) => r.bytes)),
    }
  }
  const reference = of('none')
  printTable(
    `backup --compress: ${spec.label} (${binaryBytes(data.bytes)} of file content)`,
    [
      { title: '--compress', align: 'left' },
      { title: 'staged' },
      { title: 'bytes vs none' },
      { title: 'seconds' },
      { title: 'time vs none' },
      { title: 'MB/s' },
    ],
    CHOICES.map((choice) => {
      const { ms, bytes } = of(choice)
      return [
        choice,
        binaryBytes(bytes),
        ratio(bytes, reference.bytes),
        seconds(ms),
        ratio(ms, reference.ms),
        mbPerSecond(data.bytes, ms),
      ]
    }),
    [
      'transship backup (CLI, sealed, cold, no image) through file:// staging on this disk; medians;',
      `staged: the bytes the backup holds (sealed artifacts and manifest). ${load}`,
    ],
  )
}
