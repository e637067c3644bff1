/** Sizes and repetitions of a run, from the environment. */
export interface Settings {
  /** BENCH_SCALE: multiplies every size and file count (default 1, the issues' sizes). */
  readonly scale: number
  /** BENCH_RUNS: timed repetitions of each case; tables show the median (default 3). */
  readonly runs: number
  /** BENCH_RSS: how peak RSS is read, `time` (GNU time's %M) or `poll` (VmHWM). */
  readonly rss: 'time' | 'poll' | undefined
}

/**
 * Reads BENCH_SCALE, BENCH_RUNS and BENCH_RSS.
 *
 * @param env - the process environment.
 * @return the settings.
 * @throws Error on a value that is not a positive number (or not `time`/`poll`).
 */
export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const scale = positive(env, 'BENCH_SCALE', 1)
  const runs = Math.round(positive(env, 'BENCH_RUNS', 3))
  const rss = env.BENCH_RSS || undefined
  if (rss !== undefined && rss !== 'time' && rss !== 'poll') {
    throw new Error(`BENCH_RSS=${rss}: expected time or poll`)
  }
  return { scale, runs: Math.max(1, runs), rss }
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name]
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name}=${text}: expected a positive number`)
  }
  return value
}
