import { defer, type Observable, of } from 'rxjs'
import type { MigrationEvent } from './events.js'
import { type InitialStateOptions, initialState } from './state.js'

/**
 * The source of every pipeline: one `state` event with an empty migration state, for the
 * stages to build on.
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
 *   in memory, new for each subscription).
 * @return an observable of that one event.
 */
export function startMigration(options: InitialStateOptions = {}): Observable<MigrationEvent> {
  return defer(() => of<MigrationEvent>({ type: 'state', state: initialState(options) }))
}
