import { concatMap, type MonoTypeOperatorFunction, type Observable, of } from 'rxjs'
import { groupDowntime } from '../group/groupDowntime.js'
import type { MigrationEvent, SummaryEvent } from './events.js'
import type { MemberState, MigrationState } from './state.js'

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
  return state.members ? groupSummaryOf(state, state.members) : memberSummaryOf(state)
}

function memberSummaryOf(state: MigrationState): SummaryEvent {
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

/** A group's summary: every member's bytes and warnings (each naming its container), the group's downtime. */
function groupSummaryOf(group: MigrationState, members: readonly MemberState[]): SummaryEvent {
  const downtime = groupDowntime(members)
  return {
    type: 'summary',
    ...(group.backupUrl === undefined
      ? {}
      : { backupUrl: group.backupUrl, backupKept: !group.backupRemoved }),
    ...(downtime ? { downtime } : {}),
    bytes: members.reduce((sum, { state }) => sum + memberSummaryOf(state).bytes, 0),
    durationMs: Date.now() - group.startedAt,
    warnings: [
      ...group.warnings.map((warning) => warning.message),
      ...members.flatMap(({ container, state }) =>
        state.warnings.map((warning) => `${container}: ${warning.message}`),
      ),
    ],
    members: members.map(({ container, state }) => ({
      container,
      ...(state.target ? { target: state.target } : {}),
      ...(state.downtime ? { downtime: state.downtime } : {}),
    })),
  }
}
