import { messageOf, TransshipError } from '../errors.js'
import type { Ledger, LedgerEntry } from './ledger.js'
import { type LedgerResolver, performStep } from './performStep.js'
import { describeStep } from './undoSteps.js'

/** How long one undo step may take before the rollback gives up on it and goes on. */
export const UNDO_STEP_TIMEOUT_MS = 60_000

/** What a rollback did. */
export interface RollbackReport {
  /** The steps taken back, in the order they ran. */
  readonly undone: readonly string[]
  /** The steps that failed, each with why: they stay in the ledger. */
  readonly problems: readonly string[]
  /** Whether the source was left stopped because a target might run. */
  readonly fenced: boolean
}

/** Options of {@link rollBack}. */
export interface RollbackOptions {
  /** Only these steps (a failed stage's own); default all outstanding. */
  readonly keys?: ReadonlySet<string>
  /** Reaches what the steps name (default: the ledger's own engines and transports). */
  readonly resolver?: LedgerResolver
  /** Per step (default {@link UNDO_STEP_TIMEOUT_MS}). */
  readonly timeoutMs?: number
}

/**
 * Takes back the ledger's outstanding steps, newest first, going on past failures; each
 * step taken back is settled in the ledger, each failed one stays for `transship
 * recover`. The source is started again last, and only when no container this migration
 * made can run (each removed, gone, or seen stopped): never two live copies. The lock on
 * the source stays: {@link endRun} releases it.
 *
 * @param ledger - the run's ledger.
 * @param options - which steps, how to reach their objects, the timeout per step.
 * @return what was undone, what was not, and whether the source was left stopped.
 */
export async function rollBack(
  ledger: Ledger,
  options: RollbackOptions = {},
): Promise<RollbackReport> {
  const resolver = options.resolver ?? ledger.resolver()
  const timeoutMs = options.timeoutMs ?? UNDO_STEP_TIMEOUT_MS
  const chosen = ledger.entries
    .filter((entry) => entry.step.kind !== 'release-locks')
    .filter((entry) => options.keys?.has(entry.key) ?? true)
    .reverse()
  const sources = chosen.filter((entry) => entry.step.kind === 'restart-source')
  const undone: string[] = []
  const problems: string[] = []
  const take = async (entry: LedgerEntry) => {
    const description = describeStep(entry.step)
    try {
      await withTimeout(performStep(entry.step, resolver), timeoutMs, description)
      await ledger.settle(entry.key, 'undone')
      undone.push(description)
    } catch (error) {
      problems.push(`${description}: ${messageOf(error)}`)
    }
  }
  for (const entry of chosen.filter((e) => e.step.kind !== 'restart-source')) await take(entry)
  if (sources.length === 0) return { undone, problems, fenced: false }
  const running = await runningTargets(ledger.entries, resolver, timeoutMs)
  if (running.length > 0) {
    for (const entry of sources) {
      problems.push(
        `${describeStep(entry.step)}: not done, since ${running.join('; ')}: two copies must never run. ` +
          `Once that engine answers, run \`transship recover ${ledger.id}\``,
      )
    }
    return { undone, problems, fenced: true }
  }
  for (const entry of sources) await take(entry)
  return { undone, problems, fenced: false }
}

/**
 * Ends a run: releases its locks, then ends its ledger (its file removed). When a lock
 * cannot be released, the ledger stays unfinished, for `transship recover`.
 *
 * @param ledger - the run's ledger.
 * @param outcome - `completed` (the target runs, or a backup is stored) or `rolled-back`.
 * @param options - how to reach the engines, the timeout per step.
 * @return the locks that could not be released, each with why.
 */
export async function endRun(
  ledger: Ledger,
  outcome: 'completed' | 'rolled-back',
  options: Omit<RollbackOptions, 'keys'> = {},
): Promise<string[]> {
  const resolver = options.resolver ?? ledger.resolver()
  const timeoutMs = options.timeoutMs ?? UNDO_STEP_TIMEOUT_MS
  const problems: string[] = []
  for (const entry of ledger.entries.filter((e) => e.step.kind === 'release-locks')) {
    const description = describeStep(entry.step)
    try {
      await withTimeout(performStep(entry.step, resolver), timeoutMs, description)
      await ledger.settle(entry.key, 'dropped')
    } catch (error) {
      problems.push(`${description}: ${messageOf(error)}`)
    }
  }
  if (problems.length === 0) await ledger.end(outcome)
  else await ledger.close()
  return problems
}

/**
 * The containers this migration made that still exist and may run: running, or on an
 * engine that does not answer.
 */
async function runningTargets(
  entries: readonly LedgerEntry[],
  resolver: LedgerResolver,
  timeoutMs: number,
): Promise<string[]> {
  const containers = entries.flatMap(({ step }) => (step.kind === 'remove-container' ? [step] : []))
  const found = await Promise.all(
    containers.map(async (step) => {
      const ref = step.id ?? step.name
      if (ref === undefined) return undefined
      try {
        const engine = await resolver.engine(step.engine)
        const inspect = await withTimeout(engine.inspectContainer(ref), timeoutMs, `inspect ${ref}`)
        return inspect.State.Running ? `container ${ref} runs on ${step.engine}` : undefined
      } catch (error) {
        if (error instanceof TransshipError && error.code === 'ENGINE_NOT_FOUND') return undefined
        return `container ${ref} on ${step.engine} may run (${messageOf(error)})`
      }
    }),
  )
  return found.flatMap((line) => (line ? [line] : []))
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new TransshipError('UNDO_TIMEOUT', `${what} did not finish within ${timeoutMs / 1000} s`),
        ),
      timeoutMs,
    )
    timer.unref()
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}
