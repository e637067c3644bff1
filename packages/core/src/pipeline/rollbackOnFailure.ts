import { catchError, defer, type MonoTypeOperatorFunction } from 'rxjs'
import { TransshipError } from '../errors.js'
import type { MigrationEvent } from './events.js'
import { plainMessage, StageFailure, undo } from './stage.js'

/**
 * Puts everything back when a stage fails: runs the journal of the stages that succeeded
 * (newest first: remove what was made at the destination, start the source again, …) and
 * fails with an error that says what failed and what was undone. Place it last.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine: source, container: 'web' }),
 *   stopSource(),
 *   backupVolumes({ engine: source, transport }),
 *   rollbackOnFailure(), // a failed backup starts `web` again
 * )
 * ```
 *
 * @return the operator.
 */
export function rollbackOnFailure(): MonoTypeOperatorFunction<MigrationEvent> {
  return catchError((error: unknown) => {
    if (!(error instanceof StageFailure)) throw error
    return defer(async () => {
      const steps = error.state.journal.map((entry) => entry.description)
      const problems = await undo(error.state.journal)
      throw new TransshipError(error.code, report(error, steps, problems), { cause: error })
    })
  })
}

function report(failure: StageFailure, steps: string[], problems: string[]): string {
  const undone = steps.filter((step) => !problems.some((p) => p.startsWith(`${step}:`)))
  const parts = [plainMessage(failure)]
  if (undone.length > 0) parts.push(`Undone: ${undone.reverse().join('; ')}.`)
  if (problems.length > 0) parts.push(`Could NOT undo: ${problems.join('; ')}.`)
  return parts.join(' ')
}
