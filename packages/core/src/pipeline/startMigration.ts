import { defer, from, type Observable } from 'rxjs'
import type { MigrationEvent } from './events.js'
import { type InitialStateOptions, initialState } from './state.js'

/**
 * The source of every pipeline: one `state` event with an empty migration state, for the
 * stages to build on, after a `warning` event for each warning known before the first stage.
 *
 * ## Example
 * ```ts
 * const controller = new AbortController()
 * startMigration({ signal: controller.signal })
 *   .pipe(inspectSource({ engine, container: 'web' }))
 *   .subscribe((event) => console.log(event.type))
 * ```
 *
 * @param options - `id`: the backup id, when known (a restore); `signal`: aborting it
 *   interrupts the pipeline, and with {@link rollbackOnFailure} puts everything back;
 *   `ledger`: where the run's undo steps go (a durable one survives a crash; default one
 *   in memory, new for each subscription); `warnings`: known before the first stage.
 * @return an observable of those events.
 */
export function startMigration(options: InitialStateOptions = {}): Observable<MigrationEvent> {
  return defer(() =>
    from<MigrationEvent[]>([
      ...(options.warnings ?? []).map((warning) => ({ type: 'warning' as const, ...warning })),
      { type: 'state', state: initialState(options) },
    ]),
  )
}
