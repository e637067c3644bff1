import { fileURLToPath } from 'node:url'
import type { BenchContext, Benchmark } from './lib/benchmark.js'
import { describeLoad, machineLoad } from './lib/machine.js'
import { mustRun } from './lib/process.js'
import { median, printTable, ratio, seconds, spread } from './lib/table.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** The target for the built command's `transship --help`, in ms. */
const TARGET_MS = 300

/** Start-up is cheap and noisy: at least this many timed runs of each case. */
const MIN_RUNS = 10

/** One way of starting `transship --help`. */
interface Case {
  readonly id: string
  readonly what: string
  readonly command: string
  readonly args: readonly string[]
}

const CASES: readonly Case[] = [
  {
    id: 'built',
    what: '`node packages/cli/dist/main.js --help`: the bundle `pnpm build` makes, as npm installs it',
    command: process.execPath,
    args: ['packages/cli/dist/main.js', '--help'],
  },
  {
    id: 'tsx',
    what: '`node --import tsx packages/cli/src/main.ts --help`: the sources, compiled as they load',
    command: process.execPath,
    args: ['--import', 'tsx', 'packages/cli/src/main.ts', '--help'],
  },
  {
    id: 'pnpm transship',
    what: '`pnpm --silent transship --help`: the README\u2019s command in the clone (pnpm, then tsx)',
    command: 'pnpm',
    args: ['--silent', 'transship', '--help'],
  },
  {
    id: 'node',
    what: "`node -e ''`: Node's own start, the floor",
    command: process.execPath,
    args: ['-e', ''],
  },
]

/**
 * `pnpm bench startup`: the wall time of `transship --help`, from spawn to exit, built
 * (`pnpm build`'s bundle, built first, untimed) against the TypeScript sources through tsx and
 * through `pnpm transship`, with Node's own start as the floor. No engines.
 */
export const startupBenchmark: Benchmark = {
  name: 'startup',
  description: '`transship --help`: the built bundle vs the sources through tsx and pnpm',
  run,
}

async function run(context: BenchContext): Promise<void> {
  const { settings, log, signal } = context
  log('pnpm build')
  await mustRun('pnpm', ['build'], { cwd: ROOT, signal })
  const runs = Math.max(MIN_RUNS, settings.runs)
  const times = new Map<string, number[]>(CASES.map((c) => [c.id, []]))
  // Untimed: the first start reads the files from disk, later ones from the page cache.
  for (const c of CASES) await mustRun(c.command, c.args, { cwd: ROOT, signal })
  const loadBefore = machineLoad()
  for (let index = 0; index < runs; index++) {
    // Each run in another order, so that no case always follows the same one.
    const shift = index % CASES.length
    for (const c of [...CASES.slice(shift), ...CASES.slice(0, shift)]) {
      const finished = await mustRun(c.command, c.args, { cwd: ROOT, signal })
      times.get(c.id)?.push(finished.ms)
    }
  }
  log(`${runs} runs of each case`)
  printResults(runs, times, [loadBefore, machineLoad()])
}

function printResults(
  runs: number,
  times: ReadonlyMap<string, readonly number[]>,
  load: readonly [ReturnType<typeof machineLoad>, ReturnType<typeof machineLoad>],
): void {
  const medianOf = (id: string) => median(times.get(id) ?? [])
  const built = medianOf('built')
  const floor = medianOf('node')
  const rows = CASES.map((c) => [
    c.id,
    seconds(medianOf(c.id)),
    spread(times.get(c.id) ?? []),
    ratio(medianOf(c.id), built),
    c.id === 'node' ? '' : `+${seconds(medianOf(c.id) - floor)}`,
  ])
  printTable(
    `startup: \`transship --help\`, wall time from spawn to exit, median of ${runs} runs`,
    [
      { title: 'case', align: 'left' },
      { title: 's' },
      { title: 'min–max' },
      { title: 'time/built' },
      { title: 'over node' },
    ],
    rows,
    [
      ...CASES.map((c) => `${c.id}: ${c.what}`),
      'over node: the median less node\u2019s own start',
      `target: built within ${seconds(TARGET_MS)} s: ${built <= TARGET_MS ? 'met' : 'NOT met'} (${seconds(built)} s)`,
      describeLoad(...load),
    ],
  )
}
