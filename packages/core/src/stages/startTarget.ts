import type { EngineClient } from '../engine/client.js'
import { TransshipError } from '../errors.js'
import { defineStage } from '../pipeline/stage.js'

/** Options of {@link startTarget}. */
export interface StartTargetOptions {
  /** The destination engine. */
  readonly engine: EngineClient
}

/**
 * Stage `start-target`: starts the container {@link createTarget} made, when the source
 * was running, and checks that it runs. A source that was stopped gives a created target.
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
    const { engine } = options
    if (!state.target) {
      throw new TransshipError(
        'PIPELINE_ORDER',
        'start-target needs a target: put createTarget before it',
      )
    }
    if (!state.source?.running) {
      warn(
        `the source was not running: ${state.target.name} is created on ${engine.url}, not started`,
      )
      return state
    }
    await engine.startContainer(state.target.id)
    const inspect = await engine.inspectContainer(state.target.id)
    if (!inspect.State.Running && inspect.State.ExitCode !== 0) {
      throw new TransshipError(
        'TARGET_NOT_RUNNING',
        `container ${state.target.name} on ${engine.url} exited at once with code ${inspect.State.ExitCode}`,
      )
    }
    return state
  })
}
