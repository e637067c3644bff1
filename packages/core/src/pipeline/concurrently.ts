import {
  concat,
  concatMap,
  defer,
  filter,
  type MonoTypeOperatorFunction,
  merge,
  type Observable,
  of,
  tap,
} from 'rxjs'
import { TransshipError } from '../errors.js'
import type { MigrationEvent } from './events.js'
import type { MigrationState } from './state.js'

/** The fields whose stages each add to them: their additions are kept, in stage order. */
const APPENDED = ['artifacts', 'warnings'] as const

/**
 * Runs independent stages at the same time on the same state, e.g. what moves once the
 * source is frozen (the volumes' changes, the layer, the checkpoint), and then emits one
 * state with all their changes: what each added to `artifacts` and `warnings`, in the
 * order the stages are given (and what one removed from them), and each other field a
 * stage changed. Two stages must not change the same other field. Their events
 * interleave as they come.
 *
 * If one fails, the others are stopped (each takes back its own unfinished work); the
 * work of those that finished stays in the run's ledger, which {@link rollbackOnFailure}
 * takes back.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   …,
 *   stopSource({ engine: a }),
 *   concurrently(syncVolumes({ source: a, destination: b }), copyCheckpoint({ source: a, destination: b })),
 *   startTarget({ engine: b }),
 * )
 * ```
 *
 * @param stages - stage operators that do not depend on each other's results.
 * @return the operator.
 * @throws TransshipError `PIPELINE_ORDER` when two stages change the same field.
 */
export function concurrently(
  ...stages: MonoTypeOperatorFunction<MigrationEvent>[]
): MonoTypeOperatorFunction<MigrationEvent> {
  return concatMap((event) => (event.type === 'state' ? runAll(stages, event.state) : of(event)))
}

function runAll(
  stages: readonly MonoTypeOperatorFunction<MigrationEvent>[],
  base: MigrationState,
): Observable<MigrationEvent> {
  const finished: (MigrationState | undefined)[] = stages.map(() => undefined)
  const runs = stages.map((stage, index) =>
    of<MigrationEvent>({ type: 'state', state: base }).pipe(
      stage,
      tap((event) => {
        if (event.type === 'state') finished[index] = event.state
      }),
      filter((event) => event.type !== 'state'),
    ),
  )
  return concat(
    merge(...runs),
    defer(() => of<MigrationEvent>({ type: 'state', state: mergeStates(base, finished) })),
  )
}

/** One state with every stage's changes. */
function mergeStates(
  base: MigrationState,
  finished: readonly (MigrationState | undefined)[],
): MigrationState {
  const merged: Record<string, unknown> = { ...base }
  const changedBy = new Map<string, number>()
  for (const [index, state] of finished.entries()) {
    if (!state) continue
    for (const key of Object.keys(state) as (keyof MigrationState)[]) {
      if (state[key] === base[key]) continue
      if ((APPENDED as readonly string[]).includes(key)) {
        merged[key] = withListChanges(
          merged[key] as readonly unknown[],
          (base[key] ?? []) as readonly unknown[],
          state[key] as readonly unknown[],
        )
        continue
      }
      const other = changedBy.get(key)
      if (other !== undefined) {
        throw new TransshipError(
          'PIPELINE_ORDER',
          `concurrently: stages ${other + 1} and ${index + 1} both change the state's ${key}: run them one after the other`,
        )
      }
      changedBy.set(key, index)
      merged[key] = state[key]
    }
  }
  return merged as unknown as MigrationState
}

/**
 * A list field with one stage's changes: the items it added, at the end, and those of the
 * base it dropped (a stage that made another's undo step pointless removes it), left out.
 */
function withListChanges(
  merged: readonly unknown[],
  base: readonly unknown[],
  changed: readonly unknown[],
): unknown[] {
  const before = new Set(base)
  const kept = new Set(changed)
  return [
    ...merged.filter((item) => !before.has(item) || kept.has(item)),
    ...changed.filter((item) => !before.has(item)),
  ]
}
