import { filter, lastValueFrom, map, type Observable } from 'rxjs'
import type { MigrationEvent } from './events.js'
import type { MigrationState } from './state.js'

/**
 * Runs a pipeline to its end and gives its last state, for code that reads rather than
 * moves (a plan): `planMigration` inspects the source this way.
 *
 * @param events - the pipeline.
 * @return its last state.
 * @throws what the pipeline fails with; `Error` when it ends without a state.
 */
export function stateAfter(events: Observable<MigrationEvent>): Promise<MigrationState> {
  return lastValueFrom(
    events.pipe(
      filter((event) => event.type === 'state'),
      map((event) => (event as { state: MigrationState }).state),
    ),
  )
}
