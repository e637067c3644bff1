import type { Readable } from 'node:stream'
import type { EngineClient } from '../engine/client.js'
import { withHelperContainer } from '../engine/helperContainer.js'
import type { Artifact, VolumeRecord } from '../manifest/schema.js'
import { mapConcurrent } from '../pipeline/concurrent.js'
import { defineStage, type StageContext } from '../pipeline/stage.js'
import type { Transport } from '../transport/contract.js'
import { requireSource } from './require.js'
import { storeArtifact } from './storeArtifact.js'
import { volumeLabel } from './volumeLabel.js'

/** Where a helper container mounts the volume it reads or fills; archives are rooted there. */
export const VOLUME_MOUNT = '/volume'

/** Options of {@link backupVolumes}. */
export interface BackupVolumesOptions {
  /** The source engine. */
  readonly engine: EngineClient
  /** Where the archives go. */
  readonly transport: Transport
  /** How many volumes are read at once (default 1). */
  readonly concurrent?: number
}

/**
 * Stage `backup-volumes`: streams each selected volume's content, as a tar archive read
 * through the Docker API, into the transport, hashing it on the way. The volume is
 * mounted read-only into a created, never-started helper container made from the source
 * container's own image, so nothing is pulled and nothing runs.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine, container: 'web' }),
 *   stopSource({ engine }),
 *   backupVolumes({ engine, transport: createLocalTransport({ base: '/srv/staging' }) }),
 *   writeManifest({ transport }),
 * )
 * ```
 *
 * @param options - engine, transport, concurrency.
 * @return the stage operator.
 */
export function backupVolumes(options: BackupVolumesOptions) {
  return defineStage('backup-volumes', async (state, context) => {
    const source = requireSource(state, 'backup-volumes')
    const selected = state.volumes.filter((volume) => volume.artifact !== undefined)
    const artifacts = await mapConcurrent(
      selected,
      options.concurrent ?? 1,
      context.signal,
      (volume, signal) =>
        backupVolume(options, source.imageId, source.backupId, volume, { ...context, signal }),
    )
    return { ...state, artifacts: [...state.artifacts, ...artifacts] }
  })
}

/**
 * Stores one volume's content, read whole through the engine's archive API, as its
 * artifact (`tar` encoding).
 *
 * @param options - the source engine and the transport.
 * @param image - an image the engine holds, for the helper container.
 * @param backupId - the backup's id.
 * @param volume - the volume; its `artifact` names the key.
 * @param context - the stage's context.
 * @return the artifact as the manifest lists it.
 */
export async function backupVolume(
  { engine, transport }: Pick<BackupVolumesOptions, 'engine' | 'transport'>,
  image: string,
  backupId: string,
  volume: VolumeRecord,
  context: StageContext,
): Promise<Artifact> {
  const { signal } = context
  const artifact = volume.artifact as string
  const mounts = [
    { Type: 'volume' as const, Source: volume.name, Target: VOLUME_MOUNT, ReadOnly: true },
  ]
  return withHelperContainer(
    engine,
    { image, purpose: `read volume ${volume.name}`, mounts, signal },
    async (helper) => {
      const archive = await engine.call(`read volume ${volume.name}`, () =>
        helper.getArchive({ path: VOLUME_MOUNT, abortSignal: signal }),
      )
      return storeArtifact(
        {
          transport,
          backupId,
          key: artifact,
          kind: 'volume',
          label: volumeLabel(volume),
          source: archive as Readable,
        },
        context,
      )
    },
  )
}
