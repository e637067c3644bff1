import type { TestEnv } from '../../test/support/testenv.js'
import type { Cleanup } from './cleanup.js'
import type { Settings } from './settings.js'

/** What a benchmark gets from the runner (`bench/main.ts`). */
export interface BenchContext {
  /** The running test environment's endpoints (`.testenv/env`). */
  readonly env: TestEnv
  /** Sizes and repetitions, from BENCH_SCALE and BENCH_RUNS. */
  readonly settings: Settings
  /**
   * Where to register how to remove what the benchmark creates, as soon as it is created.
   * The runner undoes it all, newest first, when the benchmark ends, fails or is
   * interrupted.
   */
  readonly cleanup: Cleanup
  /** Aborted on Ctrl-C or SIGTERM: stop starting work, kill child processes. */
  readonly signal: AbortSignal
  /** A progress line on stderr (results go to stdout, as tables). */
  log(message: string): void
}

/**
 * One benchmark: a module in `bench/` registered in `bench/main.ts`, run by
 * `pnpm bench NAME` (or by `pnpm bench` with all the others). It measures its cases side
 * by side in one run and prints them as tables (`printTable`) with ratios to a reference.
 */
export interface Benchmark {
  /** The name on the command line, e.g. `volumes`. */
  readonly name: string
  /** One line for `pnpm bench --help`. */
  readonly description: string
  run(context: BenchContext): Promise<void>
}
