import { spawnSync } from 'node:child_process'
import { runProcess, tail } from './process.js'

/** Flushes dirty pages (fixtures, the previous run's copy) so no run pays for another's. */
export function settle(): void {
  spawnSync('sync')
}

/**
 * Times the reference copy of the benchmarks: `tar c | tar x` (GNU tar, `-p
 * --numeric-owner`) from one directory of this host into another, after a `sync`.
 *
 * @param from - the tree to copy.
 * @param to - an existing, empty directory.
 * @param signal - kills both tars.
 * @return the copy's wall time in milliseconds.
 * @throws Error when either tar fails.
 */
export async function tarCopy(from: string, to: string, signal: AbortSignal): Promise<number> {
  settle()
  const finished = await runProcess(
    'bash',
    [
      '-c',
      'set -o pipefail; tar -c -f - --numeric-owner -C "$1" . | tar -x -f - -p --numeric-owner -C "$2"',
      'reference',
      from,
      to,
    ],
    { signal },
  )
  if (finished.code !== 0) {
    signal.throwIfAborted()
    throw new Error(
      `tar c | tar x exited with ${finished.code ?? finished.signal}: ${tail(finished.stderr)}`,
    )
  }
  return finished.ms
}
