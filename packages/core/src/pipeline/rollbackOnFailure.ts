import {
  catchError,
  concat,
  defer,
  from,
  ignoreElements,
  type MonoTypeOperatorFunction,
  tap,
} from 'rxjs'
import { TransshipError } from '../errors.js'
import type { Ledger } from '../ledger/ledger.js'
import { endRun, rollBack } from '../ledger/rollBack.js'
import type { MigrationEvent } from './events.js'
import { plainMessage, StageFailure } from './stage.js'

/** Options of {@link rollbackOnFailure}. */
export interface RollbackOnFailureOptions {
  /**
   * The run's ledger, as given to {@link startMigration}. Without it, the ledger of the
   * failed stage, or of the last state that reached this operator, is used: an operator
   * that fails on the first state it sees then leaves the earlier stages' changes alone.
   */
  readonly ledger?: Ledger
  /** How long one undo step may take (default 60 s). */
  readonly undoTimeoutMs?: number
}

/**
 * Ends the run's ledger: when the pipeline completes, the run is done and its ledger
 * closed; when it fails, from any operator (a stage, a user's own, a `timeout()`), every
 * change recorded in the ledger and not yet taken back is (newest first: remove what was
 * made at the destination, start the source again, …), and the pipeline fails with an
 * error that says what failed, what was undone and what was not. Once the target runs
 * (the ledger is committed), a failure is passed on and nothing is taken back. Steps that
 * could not be taken back stay in a durable ledger, for `transship recover`. Place it last.
 *
 * ## Example
 * ```ts
 * const ledger = await Ledger.durable({ command: 'backup web' })
 * startMigration({ ledger }).pipe(
 *   inspectSource({ engine: source, container: 'web' }),
 *   stopSource({ engine: source }),
 *   backupVolumes({ engine: source, transport }),
 *   rollbackOnFailure({ ledger }), // a failed backup starts `web` again
 * )
 * ```
 *
 * @param options - the run's ledger, the timeout of each undo step.
 * @return the operator.
 */
export function rollbackOnFailure(
  options: RollbackOnFailureOptions = {},
): MonoTypeOperatorFunction<MigrationEvent> {
  return (events) =>
    defer(() => {
      let ledger = options.ledger
      const timing = options.undoTimeoutMs === undefined ? {} : { timeoutMs: options.undoTimeoutMs }
      const seen = events.pipe(
        tap((event) => {
          if (event.type === 'state') ledger ??= event.state.ledger
        }),
      )
      const completed = defer(() => from(ledger ? endRun(ledger, 'completed', timing) : [])).pipe(
        ignoreElements(),
      )
      return concat(seen, completed).pipe(
        catchError((error: unknown) => {
          const failed =
            options.ledger ?? (error instanceof StageFailure ? error.state.ledger : ledger)
          if (!failed) throw error
          return defer(() => failedRun(failed, error, options))
        }),
      )
    })
}

async function failedRun(
  ledger: Ledger,
  error: unknown,
  options: RollbackOnFailureOptions,
): Promise<never> {
  const timing = options.undoTimeoutMs === undefined ? {} : { timeoutMs: options.undoTimeoutMs }
  // A stage stopped beside the failed one may still be taking back its own changes.
  await ledger.quiesce()
  if (ledger.committed) {
    await endRun(ledger, 'completed', timing)
    throw error
  }
  const report = await rollBack(ledger, timing)
  const left =
    report.problems.length === 0 ? await endRun(ledger, 'rolled-back', timing) : report.problems
  if (report.problems.length > 0) await ledger.close()
  const code = error instanceof TransshipError ? error.code : 'PIPELINE_FAILED'
  throw new TransshipError(code, describeFailure(error, ledger, left, report.fenced), {
    cause: error,
  })
}

function describeFailure(
  error: unknown,
  ledger: Ledger,
  left: readonly string[],
  fenced: boolean,
): string {
  const parts = [plainMessage(error)]
  if (ledger.undone.length > 0) parts.push(`Undone: ${ledger.undone.join('; ')}.`)
  if (left.length > 0) {
    parts.push(`Could NOT undo: ${left.join('; ')}.`)
    if (ledger.durable && !fenced) parts.push(`\`transship recover ${ledger.id}\` tries again.`)
  }
  return parts.join(' ')
}
