import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'

/** A finished child process. */
export interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  /** Wall time from spawn to exit. */
  readonly ms: number
  /** Peak resident set size in KiB, when asked for. */
  readonly peakRssKiB?: number
}

/** Options of {@link runProcess}. */
export interface RunOptions {
  readonly cwd?: string
  /** The child's environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv
  /**
   * Called with each line of the child's stdout as it arrives, and when it arrived
   * (`performance.now()`): for events whose timing matters (a CLI's `--json` lines).
   */
  readonly onLine?: (line: string, at: number) => void
  /**
   * Aborting it sends SIGTERM to the child's process group (the child may still clean up
   * before it exits; this waits for it), and SIGKILL 30 s later.
   */
  readonly signal?: AbortSignal
  /** Read the child's peak RSS: through GNU time's `%M`, or by polling VmHWM. */
  readonly peakRss?: RssMethod
}

/** How peak RSS is read; see {@link rssMethod}. */
export type RssMethod = 'time' | 'poll'

const GNU_TIME = '/usr/bin/time'

/**
 * How peak RSS can be read here: GNU time (Debian's `time` package) reports the child's
 * `ru_maxrss` on exit; without it, `/proc/<pid>/status`'s VmHWM (the high-water mark) is
 * polled every 20 ms, and the last value read before exit is taken.
 *
 * @param wanted - a forced choice (BENCH_RSS), else the best available.
 * @return the method.
 */
export function rssMethod(wanted?: RssMethod): RssMethod {
  if (wanted) return wanted
  const probe = spawnSync(GNU_TIME, ['--version'], { encoding: 'utf8' })
  return probe.status === 0 && /GNU/.test(`${probe.stdout}${probe.stderr}`) ? 'time' : 'poll'
}

/** What {@link rssMethod}'s choice means, for table titles. */
export function describeRssMethod(method: RssMethod): string {
  return method === 'time'
    ? `ru_maxrss via ${GNU_TIME} -f %M`
    : 'VmHWM from /proc/<pid>/status, polled every 20 ms'
}

/**
 * Runs a command to its end, collecting its output and timing it.
 *
 * @param command - the program.
 * @param args - its arguments.
 * @param options - working directory, abort signal, peak RSS.
 * @return how it ended; a non-zero exit is not an error here.
 */
export async function runProcess(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<Finished> {
  options.signal?.throwIfAborted()
  const timeDir = options.peakRss === 'time' ? await mkdtemp(join(tmpdir(), 'bench-time-')) : ''
  const timeFile = join(timeDir, 'rss')
  const [program, argv] =
    options.peakRss === 'time'
      ? [GNU_TIME, ['-o', timeFile, '-f', '%M', command, ...args]]
      : [command, args]
  try {
    const started = performance.now()
    // In a process group of its own, so that an abort reaches the whole command (GNU
    // time's child, both sides of a shell pipe), and only through `signal`.
    const child = spawn(program, argv, {
      cwd: options.cwd,
      ...(options.env ? { env: options.env } : {}),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    // A child that has not ended 30 s after SIGTERM (a hung rollback) is killed: a
    // grandchild that outlives GNU time would otherwise hold the pipes open forever.
    let kill: NodeJS.Timeout | undefined
    const signalGroup = (signal: NodeJS.Signals) => {
      if (child.pid === undefined) return
      try {
        process.kill(-child.pid, signal)
      } catch {}
    }
    const stop = () => {
      signalGroup('SIGTERM')
      kill = setTimeout(() => signalGroup('SIGKILL'), 30_000)
    }
    options.signal?.addEventListener('abort', stop, { once: true })
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    let partial = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk)
      if (!options.onLine) return
      const at = performance.now()
      const lines = (partial + chunk.toString()).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) options.onLine(line, at)
    })
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    let polledKiB = 0
    const poller =
      options.peakRss === 'poll' && child.pid !== undefined
        ? pollHighWaterMark(child.pid, (kiB) => {
            polledKiB = Math.max(polledKiB, kiB)
          })
        : undefined
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(
      (resolve, reject) => {
        child.once('error', reject)
        child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]))
      },
    )
    const ms = performance.now() - started
    clearTimeout(kill)
    if (poller) clearInterval(poller)
    options.signal?.removeEventListener('abort', stop)
    const peakRssKiB =
      options.peakRss === 'time'
        ? await readTimeOutput(timeFile)
        : options.peakRss === 'poll'
          ? polledKiB
          : undefined
    return {
      code,
      signal,
      stdout: Buffer.concat(stdout).toString(),
      stderr: Buffer.concat(stderr).toString(),
      ms,
      ...(peakRssKiB === undefined ? {} : { peakRssKiB }),
    }
  } finally {
    if (timeDir) await rm(timeDir, { recursive: true, force: true })
  }
}

/**
 * Runs a command and fails unless it exits with 0.
 *
 * @return how it ended.
 * @throws Error with the command and the end of its stderr.
 */
export async function mustRun(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<Finished> {
  const finished = await runProcess(command, args, options)
  if (finished.code !== 0) {
    throw new Error(
      `${[command, ...args].join(' ')} exited with ${finished.code ?? finished.signal}: ${tail(finished.stderr)}`,
    )
  }
  return finished
}

/** The last lines of a command's output, for error messages. */
export function tail(text: string, lines = 5): string {
  return text.trim().split('\n').slice(-lines).join('\n')
}

async function readTimeOutput(file: string): Promise<number | undefined> {
  // GNU time prints "Command exited with non-zero status N" before the format's line.
  const text = await readFile(file, 'utf8').catch(() => '')
  const last = text.trim().split('\n').at(-1)
  const value = Number(last)
  return last !== undefined && last !== '' && Number.isFinite(value) ? value : undefined
}

function pollHighWaterMark(pid: number, seen: (kiB: number) => void): NodeJS.Timeout {
  return setInterval(() => {
    readFile(`/proc/${pid}/status`, 'utf8').then(
      (status) => {
        const match = /^VmHWM:\s+(\d+) kB$/m.exec(status)
        if (match?.[1]) seen(Number(match[1]))
      },
      () => {},
    )
  }, 20)
}
