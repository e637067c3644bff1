import type { EngineClient } from '../engine/client.js'
import { shortId } from '../engine/client.js'
import { findImage } from '../engine/images.js'
import { targetKey, undo } from '../ledger/undoSteps.js'
import { defineStage } from '../pipeline/stage.js'
import {
  assertNoneMissing,
  createNetwork,
  missingNetworks,
  type OnMissingNetwork,
} from './destinationNetworks.js'
import { requireSource } from './require.js'
import { changedSource, type TargetChanges } from './targetChanges.js'
import { endpointConfig, targetConfig } from './targetConfig.js'

/** Options of {@link createTarget}. */
export interface CreateTargetOptions {
  /** The destination engine. */
  readonly engine: EngineClient
  /** The target's name; the source's by default. */
  readonly name?: string
  /** A user-defined network missing at the destination: `create` it (default) or `fail`. */
  readonly onMissingNetwork?: OnMissingNetwork
  /** What the target changes from the source: env, ports, network and volume names. */
  readonly changes?: TargetChanges
  /** In a group: the other members' targets, by source id and name (see `TargetInputs`). */
  readonly peers?: Readonly<Record<string, string>>
}

/**
 * Stage `create-target`: creates the container at the destination with the source's
 * image and configuration (see {@link targetConfig}), the restored volumes at the same
 * paths and read-only flags, the source's restart policy, and its networks by name,
 * creating a missing user-defined network with the same settings unless told to fail.
 * It is not started: {@link startTarget} does that, so that a pipeline can put its own
 * step (restoring the layer, a check) between the two.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   readManifest({ transport, id }),
 *   restoreVolumes({ engine, transport }),
 *   createTarget({ engine, name: 'web-copy' }),
 *   startTarget({ engine }),
 * )
 * ```
 *
 * @param options - engine, name, network choice.
 * @return the stage operator.
 * @throws TransshipError `NETWORK_MISSING` when a network is missing and the choice is `fail`.
 */
export function createTarget(options: CreateTargetOptions) {
  return defineStage('create-target', async (state, { undoable, warn }) => {
    const { engine } = options
    const source = changedSource(requireSource(state, 'create-target'), options.changes)
    const name = options.name ?? source.name
    const missing = await missingNetworks(engine, source.networks)
    if (options.onMissingNetwork === 'fail') assertNoneMissing(engine, missing)
    for (const network of missing) {
      await undoable(undo.removeNetwork(engine, network.name))
      await createNetwork(engine, network)
      warn(
        `network ${network.name} was missing on ${engine.url}: created with the source's settings`,
      )
    }
    const sameImage = (await findImage(engine, source.image))?.Id === source.imageId
    const config = targetConfig({
      source,
      name,
      // By ID when the destination's tag names another image.
      image: sameImage ? source.image : source.imageId,
      volumes: state.volumes,
      restoredVolumes: state.restoredVolumes,
      skippedMounts: state.skippedMounts,
      ...(options.peers ? { peers: options.peers } : {}),
    })
    for (const warning of config.warnings) warn(warning)
    await undoable(undo.removeContainer(engine, { name }, targetKey(name)))
    const id = await engine.createContainer(config.create)
    await undoable(undo.removeContainer(engine, { id }, targetKey(name)))
    for (const network of config.moreNetworks) {
      await engine.call(`connect ${shortId(id)} to network ${network.name}`, (docker) =>
        docker
          .getNetwork(network.name)
          .connect({ Container: id, EndpointConfig: endpointConfig(network) }),
      )
    }
    return { ...state, target: { engine: engine.url, id, name } }
  })
}
