import type { BenchContext } from './benchmark.js'
import { mustRun } from './process.js'

/** Runs the docker CLI against `host` and returns its stdout; fails on a non-zero exit. */
export async function docker(
  context: BenchContext,
  host: string,
  args: readonly string[],
): Promise<string> {
  return (await mustRun('docker', ['-H', host, ...args], { signal: context.signal })).stdout
}

/** `--label key=value` arguments of the docker CLI. */
export function labelArgs(labels: Record<string, string>): string[] {
  return Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`])
}
