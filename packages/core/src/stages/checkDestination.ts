import type { EngineClient } from '../engine/client.js'
import { TransshipError } from '../errors.js'
import { defineStage } from '../pipeline/stage.js'
import { assertContainerNameFree, type OnConflict, planVolumes } from './destinationNames.js'
import { requireSource } from './require.js'

/** Options of {@link checkDestination}. */
export interface CheckDestinationOptions {
  /** The destination engine. */
  readonly engine: EngineClient
  /** What to do with volume names taken at the destination (default `fail`). */
  readonly onConflict?: OnConflict
  /** The target container's name; the source's by default. */
  readonly name?: string
}

/**
 * Stage `check-destination`: before anything is touched, checks that the destination can
 * take the container: the engine answers, the container name is free, every volume name is
 * free (or `onConflict` says what to do), and the image is there. Changes nothing.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine: a, container: 'web' }),
 *   checkDestination({ engine: b, onConflict: 'rename' }),
 *   stopSource({ engine: a }), // only reached when the destination is fit
 * )
 * ```
 *
 * @param options - engine, conflict choice, target name.
 * @return the stage operator.
 * @throws TransshipError `ENGINE_UNREACHABLE`, `CONTAINER_NAME_TAKEN`, `VOLUME_NAME_TAKEN`,
 *   `IMAGE_MISSING`.
 */
export function checkDestination(options: CheckDestinationOptions) {
  return defineStage('check-destination', async (state) => {
    const { engine } = options
    const source = requireSource(state, 'check-destination')
    await engine.info()
    await assertContainerNameFree(engine, options.name ?? source.name)
    await planVolumes(engine, state.volumes, options.onConflict ?? 'fail')
    await engine
      .call(`inspect image ${source.imageId}`, (docker) =>
        docker.getImage(source.imageId).inspect(),
      )
      .catch((cause: unknown) => {
        throw new TransshipError(
          'IMAGE_MISSING',
          `image ${source.image} (${source.imageId}) is not on ${engine.url}; load it there first (docker save | docker load)`,
          { cause },
        )
      })
    return state
  })
}
