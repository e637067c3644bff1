import { pipeline, type Readable } from 'node:stream'
import type Dockerode from 'dockerode'
import { hashingStream } from '../archive/hashingStream.js'
import { tarGuard } from '../archive/tarGuard.js'
import { type EngineClient, shortId } from '../engine/client.js'
import { NO_COPY, pickHelperImage, withHelperContainer } from '../engine/helperContainer.js'
import { putArchive } from '../engine/putArchive.js'
import { TransshipError } from '../errors.js'
import type { Artifact, VolumeRecord } from '../manifest/schema.js'
import { mapConcurrent } from '../pipeline/concurrent.js'
import { meter } from '../pipeline/meter.js'
import { defineStage, type StageContext } from '../pipeline/stage.js'
import { VOLUME_MOUNT } from './backupVolumes.js'
import { roundArtifact, roundContext } from './precopyVolumes.js'
import { requireSource } from './require.js'
import { volumeLabel } from './volumeLabel.js'

/** Options of {@link syncVolumes}. */
export interface SyncVolumesOptions {
  /** The source engine; the container is frozen (stopped or checkpointed). */
  readonly source: EngineClient
  /** The destination engine. */
  readonly destination: EngineClient
  /** How many volumes are synchronised at once (default 4: most have little to send). */
  readonly concurrent?: number
}

/**
 * Stage `sync-volumes`, the direct route's phase after the freeze: for each volume
 * {@link precopyVolumes} copied while the source ran, scans the frozen source and sends
 * only what changed since (new, changed and deleted entries, metadata included), so that
 * every volume at the destination equals the source's frozen state, path for path. A
 * volume that was not pre-copied (the helper program could not run) is copied whole,
 * straight from one engine's archive API into the other's, checked on its way.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine: a, container: 'db' }),
 *   precopyVolumes({ source: a, destination: b }),
 *   createTarget({ engine: b }),
 *   stopSource({ engine: a }),
 *   syncVolumes({ source: a, destination: b }),
 *   startTarget({ engine: b }),
 * )
 * ```
 *
 * @param options - engines, concurrency.
 * @return the stage operator.
 * @throws TransshipError `SOURCE_RUNNING`, `PIPELINE_ORDER`, `UNSAFE_ARCHIVE`, `HELPER_FAILED`.
 */
export function syncVolumes(options: SyncVolumesOptions) {
  return defineStage('sync-volumes', async (state, context) => {
    const { source: from, destination: to } = options
    const source = requireSource(state, 'sync-volumes')
    const { State } = await from.inspectContainer(source.id)
    if (State.Running || State.Paused) {
      throw new TransshipError(
        'SOURCE_RUNNING',
        `sync-volumes needs container ${source.name} on ${from.url} frozen: put stopSource or checkpointSource before it`,
      )
    }
    const copied = state.volumes.filter((volume) => volume.artifact !== undefined)
    const artifacts = await mapConcurrent(
      copied,
      options.concurrent ?? 4,
      context.signal,
      async (volume, signal): Promise<Artifact[]> => {
        const stage = { ...context, signal }
        const name = state.restoredVolumes[volume.name]
        if (name === undefined) {
          throw new TransshipError(
            'PIPELINE_ORDER',
            `sync-volumes: ${volumeLabel(volume)} has no volume at ${to.url}: put precopyVolumes before it`,
          )
        }
        const copy = state.treeCopies?.get(volume.name)
        if (copy) {
          const label = `${volumeLabel(volume)}, changes while frozen`
          return roundArtifact(volume, copy, await copy.delta(roundContext(label, stage)))
        }
        return [await copyThroughArchiveApi(options, source.imageId, volume, name, stage)]
      },
    )
    return { ...state, artifacts: [...state.artifacts, ...artifacts.flat()] }
  })
}

/** The whole volume, from the source's archive API into the destination's, checked and hashed. */
async function copyThroughArchiveApi(
  { source: from, destination: to }: SyncVolumesOptions,
  image: string,
  volume: VolumeRecord,
  name: string,
  { signal, progress }: StageContext,
): Promise<Artifact> {
  const label = volumeLabel(volume)
  const hashing = hashingStream()
  const toImage = await pickHelperImage(to, [image])
  const root = VOLUME_MOUNT.slice(1)
  const read = { image, purpose: `read ${label}`, signal, mounts: [volumeMount(volume.name, true)] }
  const fill = {
    image: toImage,
    purpose: `fill volume ${name}`,
    signal,
    mounts: [volumeMount(name, false)],
  }
  await withHelperContainer(from, read, (reader) =>
    withHelperContainer(to, fill, async (filler) => {
      const archive = (await from.call(`read ${label}`, () =>
        reader.getArchive({ path: VOLUME_MOUNT, abortSignal: signal }),
      )) as Readable
      const body = pipeline(
        archive,
        meter((bytes) => progress(label, bytes)),
        hashing,
        tarGuard({ root, describe: `${label} on ${from.url}` }),
        () => {},
      )
      try {
        await putArchive(to, filler, body, {
          path: '/',
          action: `fill volume ${shortId(name)}`,
          signal,
        })
      } finally {
        archive.destroy()
      }
    }),
  )
  return {
    key: volume.artifact as string,
    kind: 'volume',
    encoding: 'tar',
    ...(await hashing.digest()),
  }
}

function volumeMount(name: string, readOnly: boolean): Dockerode.MountSettings {
  return readOnly
    ? { Type: 'volume', Source: name, Target: VOLUME_MOUNT, ReadOnly: true }
    : { Type: 'volume', Source: name, Target: VOLUME_MOUNT, VolumeOptions: NO_COPY }
}
