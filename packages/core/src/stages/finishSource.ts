import type { EngineClient } from '../engine/client.js'
import { defineStage, plainMessage } from '../pipeline/stage.js'
import { requireSource } from './require.js'
import { restoreSource } from './restoreSource.js'

/** Options of {@link removeSource} and {@link restartSource}. */
export interface SourceOptions {
  /** The source engine. */
  readonly engine: EngineClient
}

/**
 * Stage `remove-source`: removes the source container, with its anonymous volumes (named
 * volumes stay), once the target runs. Only when the user asks (`--remove-source`).
 *
 * ## Example
 * ```ts
 * migration$.pipe(startTarget({ engine: b }), removeSource({ engine: a }))
 * ```
 *
 * @param options - the source engine.
 * @return the stage operator.
 */
export function removeSource(options: SourceOptions) {
  return defineStage('remove-source', async (state, { warn }) => {
    const source = requireSource(state, 'remove-source')
    try {
      await options.engine.removeContainer(source.id)
    } catch (error) {
      // The target runs by now: a source left behind is not a reason to undo the migration.
      warn(`could not remove the source ${source.name}: ${plainMessage(error)}`)
    }
    return state
  })
}

/**
 * Stage `restart-source`: puts the source back as it was (running, if it ran, with its
 * restart policy) once the backup is taken: `backup --leave-running`.
 *
 * ## Example
 * ```ts
 * backup$.pipe(writeManifest({ transport }), restartSource({ engine }))
 * ```
 *
 * @param options - the source engine.
 * @return the stage operator.
 */
export function restartSource(options: SourceOptions) {
  return defineStage('restart-source', async (state) => {
    await restoreSource(options.engine, requireSource(state, 'restart-source'))
    return state
  })
}
