import { concatMap, type MonoTypeOperatorFunction, type Observable, of } from 'rxjs'
import type { MigrationEvent, SummaryEvent } from './events.js'
import type { MigrationState } from './state.js'

/**
 * Ends a pipeline with a `summary` event made from the final state: where the backup is,
 * the target, bytes moved, duration and warnings. The state event still passes.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(inspectSource(...), backupVolumes(...), writeManifest(...), summarize())
 * ```
 *
 * @return the operator.
 */
export function summarize(): MonoTypeOperatorFunction<MigrationEvent> {
  return concatMap(
    (event): Observable<MigrationEvent> =>
      event.type === 'state' ? of(event, summaryOf(event.state)) : of(event),
  )
}

function summaryOf(state: MigrationState): SummaryEvent {
  return {
    type: 'summary',
    ...(state.backupUrl === undefined
      ? {}
      : { backupUrl: state.backupUrl, backupKept: !state.backupRemoved }),
    ...(state.target === undefined ? {} : { target: state.target }),
    ...(state.downtime === undefined ? {} : { downtime: state.downtime }),
    bytes: state.artifacts.reduce((sum, artifact) => sum + artifact.size, 0),
    durationMs: Date.now() - state.startedAt,
    warnings: state.warnings.map((warning) => warning.message),
  }
}
