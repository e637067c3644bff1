import type { EngineClient } from '../engine/client.js'
import { takeSourceLock } from '../ledger/sourceLock.js'
import { undo } from '../ledger/undoSteps.js'
import { defineStage } from '../pipeline/stage.js'
import { requireSource } from './require.js'

/** Options of {@link lockSource}. */
export interface LockSourceOptions {
  /** The source engine. */
  readonly engine: EngineClient
}

/**
 * Stage `lock-source`: one migration per container at a time. Takes the source's lock on
 * its engine (the never-started container `transship-lock-<source id>`, labelled with this
 * process and the run's ledger id) before anything changes; the run's end releases it,
 * whichever way it ends ({@link rollbackOnFailure}), and `transship recover` after a crash.
 *
 * ## Example
 * ```ts
 * startMigration({ ledger }).pipe(
 *   inspectSource({ engine: a, container: 'web' }),
 *   lockSource({ engine: a }),
 *   stopSource({ engine: a }),
 *   …,
 *   rollbackOnFailure({ ledger }),
 * )
 * ```
 *
 * @param options - the source engine.
 * @return the stage operator.
 * @throws TransshipError `SOURCE_LOCKED` (another migration runs), `MIGRATION_UNFINISHED`
 *   (one whose process is gone: `transship recover` first); nothing changed either way.
 */
export function lockSource(options: LockSourceOptions) {
  return defineStage('lock-source', async (state, { undoable }) => {
    const { engine } = options
    const source = requireSource(state, 'lock-source')
    const { ledger } = state
    await takeSourceLock(engine, source, { migration: ledger.id, command: ledger.command })
    await undoable(undo.releaseLocks(engine, ledger.id))
    return state
  })
}
