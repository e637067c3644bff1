import type { EngineClient } from '../../engine/client.js'
import { defineStage, plainMessage } from '../../pipeline/stage.js'
import { requireSource } from '../require.js'

/** Options of {@link removeSourceCheckpoint}. */
export interface RemoveSourceCheckpointOptions {
  /** The source engine. */
  readonly engine: EngineClient
}

/**
 * Stage `remove-source-checkpoint`: once the target runs, removes the source's checkpoint
 * from the source engine: it holds the processes' memory (keys, passwords, sessions), and
 * nothing needs it any more. Kept with `--keep-checkpoint`. A failure here is a warning: the
 * migration has succeeded.
 *
 * ## Example
 * ```ts
 * migration$.pipe(resumeTarget({ engine: b }), removeSourceCheckpoint({ engine: a }))
 * ```
 *
 * @param options - the source engine.
 * @return the stage operator.
 */
export function removeSourceCheckpoint(options: RemoveSourceCheckpointOptions) {
  return defineStage('remove-source-checkpoint', async (state, { warn }) => {
    const { checkpoint } = state
    if (!checkpoint) return state
    const source = requireSource(state, 'remove-source-checkpoint')
    try {
      await options.engine.removeCheckpoint(source.id, checkpoint.name)
    } catch (error) {
      warn(
        `could not remove checkpoint ${checkpoint.name} of ${source.name} on ${options.engine.url} (it holds the processes' memory): ${plainMessage(error)}`,
      )
    }
    return state
  })
}
