import { messageOf, TransshipError } from '../errors.js'
import type { Ledger, LedgerEntry } from './ledger.js'
import {
  type LedgerResolver,
  performEntries,
  UNDO_STEP_TIMEOUT_MS,
  withTimeout,
} from './performStep.js'
import { describeStep } from './undoSteps.js'

/** What a rollback did. */
export interface RollbackReport {
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
 * @return what could not be undone, and whether the source was left stopped (what was
 *   undone is in `ledger.undone`).
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
  const others = chosen.filter((entry) => entry.step.kind !== 'restart-source')
  const problems = [
    ...(await performEntries(ledger, others, 'undone', resolver, timeoutMs)).problems,
  ]
  if (sources.length === 0) return { problems, fenced: false }
  const running = await runningTargets(ledger.entries, resolver, timeoutMs)
  if (running.length > 0) {
    for (const entry of sources) {
      problems.push(
        `${describeStep(entry.step)}: not done, since ${running.join('; ')}: two copies must never run. ` +
          `Once that engine answers, run \`transship recover ${ledger.id}\``,
      )
    }
    return { problems, fenced: true }
  }
  const restarted = await performEntries(ledger, sources, 'undone', resolver, timeoutMs)
  return { problems: [...problems, ...restarted.problems], fenced: false }
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
  const locks = ledger.entries.filter((entry) => entry.step.kind === 'release-locks')
  const { problems } = await performEntries(ledger, locks, 'dropped', resolver, timeoutMs)
  if (problems.length === 0) await ledger.end(outcome)
  else await ledger.close()
  return [...problems]
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
