import type { EngineClient } from '../engine/client.js'
import { TransshipError } from '../errors.js'
import { undo } from '../ledger/undoSteps.js'
import { defineStage } from '../pipeline/stage.js'
import { requireSource } from './require.js'

/** Options of {@link stopSource}. */
export interface StopSourceOptions {
  /** The source engine. */
  readonly engine: EngineClient
}

/**
 * Stage `stop-source`: stops the source container, so that the copy matches what it last
 * wrote, and sets its restart policy to `no`, so that an engine restart cannot bring a
 * second copy to life. Should a later stage fail, the source is started again (if it ran)
 * with its restart policy back. A running container started with `--rm` is refused before
 * anything changes: stopping it would make Docker remove it.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(inspectSource({ engine, container: 'web' }), stopSource({ engine }))
 * ```
 *
 * @param options - the source engine.
 * @return the stage operator.
 */
export function stopSource(options: StopSourceOptions) {
  return defineStage('stop-source', async (state, { undoable }) => {
    const { engine } = options
    const source = requireSource(state, 'stop-source')
    if (source.running && source.hostConfig.AutoRemove === true) {
      throw new TransshipError(
        'SOURCE_AUTO_REMOVE',
        `container ${source.name} on ${engine.url} was started with --rm: stopping it would make Docker remove it, layer included; nothing was changed`,
      )
    }
    await undoable(undo.restartSource(engine, source))
    await engine.call(`set restart policy of ${source.name} to no`, (docker) =>
      docker.getContainer(source.id).update({ RestartPolicy: { Name: 'no' } }),
    )
    if (!source.running) return state
    const at = Date.now()
    await engine.call(`stop container ${source.name}`, (docker) =>
      docker.getContainer(source.id).stop(),
    )
    return { ...state, freeze: { by: 'stop', at, durationMs: Date.now() - at } }
  })
}
