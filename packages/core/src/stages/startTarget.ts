import type { EngineClient } from '../engine/client.js'
import { TransshipError } from '../errors.js'
import { downtimeOf } from '../pipeline/downtime.js'
import { defineStage } from '../pipeline/stage.js'
import type { MigrationState, TargetRecord } from '../pipeline/state.js'

/** Options of {@link startTarget}. */
export interface StartTargetOptions {
  /** The destination engine. */
  readonly engine: EngineClient
  /**
   * Record in the run's ledger, once the target runs, that nothing is to be rolled back
   * (default true). `false` leaves that to a later stage (`commitTarget`), so that a
   * check between the two (a post-restore hook) can still roll back.
   */
  readonly commit?: boolean
}

/**
 * Stage `start-target`: starts the container {@link createTarget} made, when the source
 * was running, and checks that it runs. A source that was stopped gives a created target.
 * After a freeze ({@link stopSource}), the state then holds the downtime.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(readManifest({ transport, id }), restoreVolumes({ engine, transport }),
 *   createTarget({ engine }), startTarget({ engine }))
 * ```
 *
 * @param options - the destination engine.
 * @return the stage operator.
 * @throws TransshipError `TARGET_NOT_RUNNING` when it exits at once.
 */
export function startTarget(options: StartTargetOptions) {
  return defineStage('start-target', async (state, { warn }) => {
    if (!state.target) {
      throw new TransshipError(
        'PIPELINE_ORDER',
        'start-target needs a target: put createTarget before it',
      )
    }
    return startTargetPlainly(options.engine, state, state.target, {
      warn,
      commit: options.commit ?? true,
    })
  })
}

/**
 * Starts the target when the source was running (else warns that it stays created),
 * checks that it did not exit at once, and adds the downtime after a freeze.
 *
 * @param engine - the destination engine.
 * @param state - the migration state.
 * @param target - the target container.
 * @param how - the stage's warning; whether to commit the ledger once the target runs.
 * @return the state, with the downtime when the source was frozen.
 * @throws TransshipError `TARGET_NOT_RUNNING` when it exits at once.
 */
export async function startTargetPlainly(
  engine: EngineClient,
  state: MigrationState,
  target: TargetRecord,
  how: { readonly warn: (message: string) => void; readonly commit: boolean },
): Promise<MigrationState> {
  if (!state.source?.running) {
    how.warn(`the source was not running: ${target.name} is created on ${engine.url}, not started`)
    if (how.commit) await state.ledger.commit()
    return state
  }
  const started = Date.now()
  await engine.startContainer(target.id)
  const running = Date.now()
  const inspect = await engine.inspectContainer(target.id)
  if (!inspect.State.Running && inspect.State.ExitCode !== 0) {
    throw new TransshipError(
      'TARGET_NOT_RUNNING',
      `container ${target.name} on ${engine.url} exited at once with code ${inspect.State.ExitCode}`,
    )
  }
  // The target runs: from here on the migration is finished, never rolled back.
  if (how.commit) await state.ledger.commit()
  return state.freeze ? { ...state, downtime: downtimeOf(state.freeze, started, running) } : state
}
