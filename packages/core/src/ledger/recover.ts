import { notFoundAsUndefined } from '../engine/client.js'
import { messageOf, TransshipError } from '../errors.js'
import { isGone } from './holder.js'
import { Ledger } from './ledger.js'
import { type LedgerContent, ledgerDirectory, readLedgers } from './ledgerFile.js'
import { type LedgerResolver, UNDO_STEP_TIMEOUT_MS } from './performStep.js'
import { endRun, rollBack } from './rollBack.js'
import { rollForward } from './rollForward.js'
import { MIGRATION_LABEL } from './runContext.js'
import { LOCK_MIGRATION_LABEL, removeLabelledContainers } from './sourceLock.js'
import { describeStep, TARGET_KEY } from './undoSteps.js'

/** Options of {@link recoverMigrations}. */
export interface RecoverOptions {
  /** Where ledgers are kept (default `$XDG_STATE_HOME/transship`). */
  readonly stateDir?: string
  /** Only this migration (a ledger id). */
  readonly id?: string
  /** Only list what would be done. */
  readonly dryRun?: boolean
  /** Also a migration whose process may still run (on another host, or alive here). */
  readonly force?: boolean
  /** Reaches the engines and transports the ledgers name. */
  readonly resolver: LedgerResolver
  /** Per undo step (default 60 s). */
  readonly timeoutMs?: number
}

/** How a recovery ended for one migration. */
export type RecoveryOutcome =
  /** Everything taken back: the source runs again as it was. */
  | 'rolled-back'
  /** The target runs: the migration was finished (its locks released). */
  | 'rolled-forward'
  /** Its process still runs: left alone (`--force` takes it over). */
  | 'running'
  /** Some steps could not be done: they are named, and stay for another try. */
  | 'incomplete'
  /** `--dry-run`: only listed. */
  | 'listed'

/** What a recovery did for one migration. */
export interface RecoveredMigration {
  readonly id: string
  readonly command: string
  readonly holder: { readonly host: string; readonly pid: number }
  readonly startedAt: string
  readonly outcome: RecoveryOutcome
  /** What ends it: `roll back` or `roll forward`. */
  readonly plan: 'roll back' | 'roll forward'
  /** The steps outstanding before the recovery, newest first. */
  readonly steps: readonly string[]
  /** What was done. */
  readonly done: readonly string[]
  /** What could not be done, each with why. */
  readonly problems: readonly string[]
}

/**
 * Brings every unfinished migration recorded on this host to a safe end: rolls it back
 * (the destination's objects and the staged artifacts removed, the source started again,
 * from its checkpoint where one was taken, its restart policy put back), or, when its
 * target already runs, rolls it forward (the migration is finished; its locks released).
 * A migration whose process still runs is left alone unless `force`.
 *
 * ## Example
 * ```ts
 * const results = await recoverMigrations({ resolver })
 * const safe = results.every((r) => r.outcome === 'rolled-back' || r.outcome === 'rolled-forward')
 * ```
 *
 * @param options - state directory, which migration, dry run, force, how to reach engines.
 * @return one result per migration, oldest first.
 * @throws TransshipError `MIGRATION_NOT_FOUND` when `id` names no unfinished migration.
 */
export async function recoverMigrations(options: RecoverOptions): Promise<RecoveredMigration[]> {
  const directory = ledgerDirectory(options.stateDir)
  const unfinished = (await readLedgers(directory)).filter(
    (content) => !content.lines.some((line) => line.type === 'ended'),
  )
  const chosen =
    options.id === undefined
      ? unfinished
      : unfinished.filter((content) => content.begin.id === options.id)
  if (options.id !== undefined && chosen.length === 0) {
    throw new TransshipError(
      'MIGRATION_NOT_FOUND',
      `no unfinished migration ${options.id} is recorded in ${directory}`,
    )
  }
  const results: RecoveredMigration[] = []
  for (const content of chosen) results.push(await recoverOne(content, options))
  return results
}

async function recoverOne(
  content: LedgerContent,
  options: RecoverOptions,
): Promise<RecoveredMigration> {
  const { begin } = content
  const ledger = await Ledger.reopen(content)
  const steps = ledger.entries.map((entry) => describeStep(entry.step)).reverse()
  const report = (
    outcome: RecoveryOutcome,
    plan: RecoveredMigration['plan'],
    done: readonly string[] = [],
    problems: readonly string[] = [],
  ): RecoveredMigration => ({
    id: begin.id,
    command: begin.command,
    holder: { host: begin.host, pid: begin.pid },
    startedAt: begin.at,
    outcome,
    plan,
    steps,
    done,
    problems,
  })
  try {
    if (!options.force && !isGone(begin)) {
      await ledger.close()
      return report('running', ledger.committed ? 'roll forward' : 'roll back')
    }
    const plan = (await targetRuns(ledger, options.resolver)) ? 'roll forward' : 'roll back'
    if (options.dryRun) {
      await ledger.close()
      return report('listed', plan)
    }
    const timing = {
      resolver: ledger.resolver(options.resolver),
      timeoutMs: options.timeoutMs ?? UNDO_STEP_TIMEOUT_MS,
    }
    // Its helpers, left running by the crash, hold the volumes the rollback removes.
    const helpers = await removeContainersOf(ledger, content, options.resolver, MIGRATION_LABEL)
    if (plan === 'roll forward') {
      const finished = await rollForward(ledger, begin.onSuccess, timing)
      if (finished.problems.length > 0) {
        await ledger.close()
        return report('incomplete', plan, finished.done, [...helpers, ...finished.problems])
      }
      const problems = [
        ...helpers,
        ...(await endRunWithLocks(ledger, content, 'completed', options.resolver, timing)),
      ]
      return report(
        problems.length ? 'incomplete' : 'rolled-forward',
        plan,
        finished.done,
        problems,
      )
    }
    const rolled = await rollBack(ledger, timing)
    if (rolled.problems.length > 0) {
      await ledger.close()
      return report('incomplete', plan, ledger.undone, [...helpers, ...rolled.problems])
    }
    const problems = [
      ...helpers,
      ...(await endRunWithLocks(ledger, content, 'rolled-back', options.resolver, timing)),
    ]
    return report(problems.length ? 'incomplete' : 'rolled-back', plan, ledger.undone, problems)
  } catch (error) {
    await ledger.close()
    return report('incomplete', 'roll back', [], [messageOf(error)])
  }
}

/**
 * Whether the migration's targets run: committed, or made and each seen running (the
 * process died between the last start and its record). A group with a target not running
 * is rolled back.
 */
async function targetRuns(ledger: Ledger, resolver: LedgerResolver): Promise<boolean> {
  if (ledger.committed) return true
  const targets = ledger.entries.filter((entry) => entry.key.startsWith(`${TARGET_KEY} `))
  if (targets.length === 0) return false
  for (const { step } of targets) {
    if (step.kind !== 'remove-container' || step.id === undefined) return false
    const engine = await resolver.engine(step.engine)
    // An engine that does not answer fails the recovery: guessing could start a second copy.
    const inspect = await engine.inspectContainer(step.id).catch(notFoundAsUndefined)
    if (inspect?.State.Running !== true) return false
  }
  return true
}

/** Ends the run, its locks released: also one taken but not yet recorded at the crash. */
async function endRunWithLocks(
  ledger: Ledger,
  content: LedgerContent,
  outcome: 'completed' | 'rolled-back',
  resolver: LedgerResolver,
  timing: Parameters<typeof endRun>[2],
): Promise<string[]> {
  const left = await removeContainersOf(ledger, content, resolver, LOCK_MIGRATION_LABEL)
  if (left.length > 0) {
    await ledger.close()
    return left
  }
  return endRun(ledger, outcome, timing)
}

/**
 * Removes the containers labelled as the run's (`label` = its ledger id) on every engine
 * the ledger names: its helpers, or its locks.
 *
 * @return what could not be removed, each with why.
 */
async function removeContainersOf(
  ledger: Ledger,
  content: LedgerContent,
  resolver: LedgerResolver,
  label: string,
): Promise<string[]> {
  const urls = new Set<string>()
  if (content.begin.source) urls.add(content.begin.source.engine)
  for (const { step } of ledger.entries) if ('engine' in step) urls.add(step.engine)
  const problems: string[] = []
  for (const url of urls) {
    try {
      await removeLabelledContainers(await resolver.engine(url), `${label}=${ledger.id}`)
    } catch (error) {
      problems.push(
        `remove the containers of migration ${ledger.id} on ${url}: ${messageOf(error)}`,
      )
    }
  }
  return problems
}
