import type { EngineClient } from '../engine/client.js'
import { findImage } from '../engine/images.js'
import { TransshipError } from '../errors.js'
import { defineStage } from '../pipeline/stage.js'
import { assertContainerNameFree, type OnConflict, planVolumes } from './destinationNames.js'
import { assertNoneMissing, missingNetworks, type OnMissingNetwork } from './destinationNetworks.js'
import { hostGrantsOf } from './hostGrants.js'
import { requireSource } from './require.js'
import { changedSource, type TargetChanges, volumeNameChanges } from './targetChanges.js'

/** Options of {@link checkDestination}. */
export interface CheckDestinationOptions {
  /** The destination engine. */
  readonly engine: EngineClient
  /** What to do with volume names taken at the destination (default `fail`). */
  readonly onConflict?: OnConflict
  /** The target container's name; the source's by default. */
  readonly name?: string
  /** A user-defined network missing at the destination: `create` it (default) or `fail`. */
  readonly onMissingNetwork?: OnMissingNetwork
  /** What the target changes from the source: env, ports, network and volume names. */
  readonly changes?: TargetChanges
  /** The image will be sent when the destination lacks it (a migration); default false. */
  readonly sendImage?: boolean
  /**
   * What to do with the host grants the target would receive ({@link hostGrantsOf}):
   * `refuse` them (default: a restore from staging, which anyone who can write there could
   * have changed), or `warn`, a warning naming each (a migration, one operator holding both
   * engines; a restore with `--allow-host-access`).
   */
  readonly hostAccess?: 'refuse' | 'warn'
}

/**
 * Stage `check-destination`: before anything is touched, checks that the destination can
 * take the container: the engine answers, the container name is free, every volume name is
 * free (or `onConflict` says what to do), the networks exist (or may be created), and the
 * image is there or travels (sent by the migration, or in the backup), and the target
 * would receive no host grant unless allowed. Changes nothing.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine: a, container: 'web' }),
 *   checkDestination({ engine: b, onConflict: 'rename', sendImage: true }),
 *   stopSource({ engine: a }), // only reached when the destination is fit
 * )
 * ```
 *
 * @param options - engine and the user's choices.
 * @return the stage operator.
 * @throws TransshipError `ENGINE_UNREACHABLE`, `CONTAINER_NAME_TAKEN`, `VOLUME_NAME_TAKEN`,
 *   `NETWORK_MISSING`, `IMAGE_MISSING`, `HOST_ACCESS_REFUSED`.
 */
export function checkDestination(options: CheckDestinationOptions) {
  return defineStage('check-destination', async (state, { warn }) => {
    const { engine } = options
    const source = changedSource(requireSource(state, 'check-destination'), options.changes)
    await engine.info()
    await assertContainerNameFree(engine, options.name ?? source.name)
    const plans = await planVolumes(
      engine,
      state.volumes,
      options.onConflict ?? 'fail',
      volumeNameChanges(state.volumes, options.changes),
    )
    const grants = hostGrantsOf({ ...state, source, plans })
    if (grants.length > 0 && (options.hostAccess ?? 'refuse') === 'refuse') {
      throw new TransshipError(
        'HOST_ACCESS_REFUSED',
        `${source.name} would receive host access on ${engine.url}: ${grants.join('; ')}. A backup's configuration comes from the staging, which anyone who can write there could have changed: restore it with --allow-host-access only if these are expected`,
      )
    }
    for (const grant of grants) warn(`host access carried to ${engine.url}: ${grant}`)
    if (options.onMissingNetwork === 'fail') {
      assertNoneMissing(engine, await missingNetworks(engine, source.networks))
    }
    const hasImage = (await findImage(engine, source.imageId)) !== undefined
    if (!hasImage && !options.sendImage && !state.image) {
      throw new TransshipError(
        'IMAGE_MISSING',
        `image ${source.image} (${source.imageId}) is not on ${engine.url}, and the backup does not carry it (taken with --no-image?); load it there first`,
      )
    }
    return state
  })
}
