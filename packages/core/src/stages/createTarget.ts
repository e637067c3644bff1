import type Dockerode from 'dockerode'
import type { EngineClient } from '../engine/client.js'
import { shortId } from '../engine/client.js'
import { NO_COPY } from '../engine/helperContainer.js'
import { defineStage } from '../pipeline/stage.js'
import { requireSource } from './require.js'

/** Options of {@link createTarget}. */
export interface CreateTargetOptions {
  /** The destination engine. */
  readonly engine: EngineClient
  /** The target's name; the source's by default. */
  readonly name?: string
}

/**
 * Stage `create-target`: creates the container at the destination from the source's image
 * and configuration, with the restored volumes at the same paths and read-only flags, and
 * the source's restart policy. It is not started: {@link startTarget} does that, so that a
 * pipeline can put its own step between the two.
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
 * @param options - engine and name.
 * @return the stage operator.
 */
export function createTarget(options: CreateTargetOptions) {
  return defineStage('create-target', async (state, { undoable }) => {
    const { engine } = options
    const source = requireSource(state, 'create-target')
    const name = options.name ?? source.name
    const config = source.config as Dockerode.ContainerCreateOptions
    const hostConfig = source.hostConfig as Dockerode.HostConfig
    const sameImage = await engine
      .call(`inspect image ${source.image}`, (docker) => docker.getImage(source.image).inspect())
      .then(
        (image) => image.Id === source.imageId,
        () => false,
      )
    const mounts: Dockerode.MountSettings[] = state.volumes.map((volume) => ({
      Type: 'volume',
      Source: state.restoredVolumes[volume.name] ?? volume.name,
      Target: volume.destination,
      ReadOnly: volume.readOnly,
      // The content came from the source: the image's files must not be copied in.
      VolumeOptions: NO_COPY,
    }))
    const binds = state.skippedMounts
      .filter((mount) => mount.type === 'bind' && mount.source)
      .map((mount) => `${mount.source}:${mount.destination}${mount.readOnly ? ':ro' : ''}`)
    const id = await engine.createContainer({
      ...config,
      name,
      // By ID when the destination's tag names another image.
      Image: sameImage ? source.image : source.imageId,
      HostConfig: {
        RestartPolicy: source.restartPolicy as Dockerode.HostRestartPolicy,
        Mounts: mounts,
        Binds: binds,
        ...(hostConfig.Tmpfs ? { Tmpfs: hostConfig.Tmpfs } : {}),
      },
    })
    undoable(`remove container ${shortId(id)} from ${engine.url}`, () => engine.removeContainer(id))
    return { ...state, target: { engine: engine.url, id, name } }
  })
}
