/**
 * `pnpm bench [NAME...]`: runs the registered benchmarks (all by default) against the
 * running test environment and prints their tables. Not part of `pnpm test`: speed is
 * measured here, side by side in one run, never asserted in timed tests.
 *
 * Add a benchmark as its own module exporting a {@link Benchmark}, and list it below.
 */
import { testEnv } from '../test/support/testenv.js'
import { checkpointBenchmark } from './checkpoint.js'
import { compressionBenchmark } from './compression.js'
import { downtimeBenchmark } from './downtime/index.js'
import { groupBenchmark } from './group.js'
import { imageBenchmark } from './image.js'
import { layerBenchmark } from './layer.js'
import type { Benchmark } from './lib/benchmark.js'
import { Cleanup } from './lib/cleanup.js'
import { readSettings } from './lib/settings.js'
import { s3Benchmark } from './s3.js'
import { scpBenchmark } from './scp.js'
import { sealingBenchmark } from './sealing.js'
import { startupBenchmark } from './startup.js'
import { volumesBenchmark } from './volumes/index.js'

const BENCHMARKS: readonly Benchmark[] = [
  volumesBenchmark,
  imageBenchmark,
  layerBenchmark,
  checkpointBenchmark,
  s3Benchmark,
  scpBenchmark,
  downtimeBenchmark,
  groupBenchmark,
  sealingBenchmark,
  compressionBenchmark,
  startupBenchmark,
]

function usage(): string {
  const names = BENCHMARKS.map((b) => `  ${b.name.padEnd(10)} ${b.description}`)
  return [
    'usage: pnpm bench [NAME...]   (all benchmarks when no name is given)',
    '',
    'benchmarks:',
    ...names,
    '',
    'environment:',
    '  BENCH_SCALE=0.01  multiply every size and file count (default 1: the issues\u2019 sizes)',
    '  BENCH_RUNS=3      timed repetitions of each case; tables show the median',
    '  BENCH_RSS=poll    read peak RSS by polling VmHWM instead of GNU time (default: time if installed)',
    '',
  ].join('\n')
}

async function main(args: readonly string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(usage())
    return 0
  }
  const unknown = args.filter((name) => !BENCHMARKS.some((b) => b.name === name))
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark ${unknown.join(', ')}\n\n${usage()}`)
    return 2
  }
  const selected = args.length > 0 ? BENCHMARKS.filter((b) => args.includes(b.name)) : BENCHMARKS
  const settings = readSettings()
  const env = testEnv()

  const controller = new AbortController()
  // A repeated signal does not cut the cleanup short: tsx relays the terminal's Ctrl-C a
  // second time when it misses this process's acknowledgement.
  const interrupt = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) return
    process.stderr.write(`\n${signal}: stopping, then cleaning up\n`)
    controller.abort(new Error(`interrupted by ${signal}`))
  }
  process.on('SIGINT', interrupt)
  process.on('SIGTERM', interrupt)

  process.stdout.write(
    `transship benchmarks: ${selected.map((b) => b.name).join(', ')} ` +
      `(BENCH_SCALE=${settings.scale}, BENCH_RUNS=${settings.runs}; node ${process.version})\n`,
  )
  let failed = 0
  for (const benchmark of selected) {
    if (controller.signal.aborted) break
    const cleanup = new Cleanup()
    const log = (message: string) => process.stderr.write(`[${benchmark.name}] ${message}\n`)
    try {
      await benchmark.run({ env, settings, cleanup, signal: controller.signal, log })
    } catch (error) {
      failed += 1
      process.stderr.write(`[${benchmark.name}] failed: ${describe(error)}\n`)
    } finally {
      log('cleaning up')
      const problems = await cleanup.run()
      for (const problem of problems) {
        process.stderr.write(`[${benchmark.name}] cleanup failed: ${problem}\n`)
      }
      if (problems.length > 0) failed += 1
    }
  }
  if (controller.signal.aborted) return 130
  return failed > 0 ? 1 : 0
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error)
}

process.exitCode = await main(process.argv.slice(2))
