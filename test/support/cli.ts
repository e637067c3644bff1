import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** How a run of the `transship` command ended. */
export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** A `transship` command still running: its process, and its end. */
export interface CliRun {
  readonly child: ChildProcess
  /** Resolves when the process has exited, however it ended. */
  readonly result: Promise<CliResult>
  /** Resolves when stderr or stdout has shown a line matching `pattern`. */
  waitForOutput(pattern: RegExp): Promise<void>
}

/**
 * Starts `pnpm --silent transship ARGS` from the repository root, as a user runs it
 * (`--silent`: pnpm adds no lines of its own, so stderr holds only transship's). `DEBUG`
 * and `DOCKER_HOST` are cleared: every engine is given explicitly.
 */
export function startTransship(
  args: readonly string[],
  extraEnv: Record<string, string> = {},
): CliRun {
  return startProcess('pnpm', ['--silent', 'transship', ...args], extraEnv)
}

/**
 * Starts the CLI as a single Node process (`node --import tsx`), without pnpm in between,
 * for tests that signal it: the signal then reaches transship itself, once.
 */
export function startTransshipDirectly(args: readonly string[]): CliRun {
  return startProcess(process.execPath, ['--import', 'tsx', 'packages/cli/src/main.ts', ...args])
}

/** Runs `pnpm --silent transship ARGS` to its end, with `extraEnv` added to its environment. */
export function transship(
  args: readonly string[],
  extraEnv: Record<string, string> = {},
): Promise<CliResult> {
  return startTransship(args, extraEnv).result
}

/** The lines of a text, without the empty last one. */
export function linesOf(text: string): string[] {
  return text.split('\n').filter((line, index, all) => line !== '' || index < all.length - 1)
}

/** The error lines transship printed on stderr: those that start with `[transship]`. */
export function errorLines(result: CliResult): string[] {
  return linesOf(result.stderr).filter((line) => line.startsWith('[transship]'))
}

/** The last line of stdout (what `backup` prints there last: the backup URL). */
export function lastStdoutLine(result: CliResult): string {
  return linesOf(result.stdout).at(-1) ?? ''
}

function startProcess(
  command: string,
  args: readonly string[],
  extraEnv: Record<string, string> = {},
): CliRun {
  const env = { ...process.env, ...extraEnv }
  delete env.DEBUG
  delete env.DOCKER_HOST
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  const watchers: { pattern: RegExp; resolve: () => void }[] = []
  const check = () => {
    for (const watcher of [...watchers]) {
      if (watcher.pattern.test(stderr) || watcher.pattern.test(stdout)) {
        watchers.splice(watchers.indexOf(watcher), 1)
        watcher.resolve()
      }
    }
  }
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    check()
  })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
    check()
  })
  const result = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
  return {
    child,
    result,
    waitForOutput(pattern) {
      return new Promise<void>((resolve, reject) => {
        watchers.push({ pattern, resolve })
        check()
        result.then(
          (ended) =>
            reject(
              new Error(
                `transship exited (code ${ended.code}) before printing ${pattern}:\n${ended.stderr}`,
              ),
            ),
          reject,
        )
      })
    },
  }
}
