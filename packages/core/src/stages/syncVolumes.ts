import { pipeline, type Readable } from 'node:stream'
import { hashingStream } from '../archive/hashingStream.js'
import { tarGuard } from '../archive/tarGuard.js'
import { type EngineClient, shortId } from '../engine/client.js'
import { pickHelperImage, withHelperContainer } from '../engine/helperContainer.js'
import { putArchive } from '../engine/putArchive.js'
import { TransshipError } from '../errors.js'
import type { Artifact, VolumeRecord } from '../manifest/schema.js'
import { mapConcurrent } from '../pipeline/concurrent.js'
import { meter } from '../pipeline/meter.js'
import { defineStage, type StageContext } from '../pipeline/stage.js'
import type { MigrationState } from '../pipeline/state.js'
import { backupVolume, VOLUME_MOUNT } from './backupVolumes.js'
import { requireSource } from './require.js'
import { fillVolume } from './restoreVolumes.js'
import { volumeLabel } from './volumeLabel.js'
import {
  roundArtifact,
  roundContext,
  type VolumeRoute,
  volumeMount,
  volumeSink,
  withRounds,
} from './volumeTrees.js'

/** Options of {@link syncVolumes}: the same route as {@link precopyVolumes}'. */
export interface SyncVolumesOptions extends VolumeRoute {
  /** How many volumes are synchronised at once (default 4: most have little to send). */
  readonly concurrent?: number
}

/**
 * Stage `sync-volumes`, the pre-copy's phase after the freeze: for each volume
 * {@link precopyVolumes} copied while the source ran, scans the frozen source and sends
 * only what changed since (new, changed and deleted entries, metadata included), on the
 * same route, so that every volume at the destination (or in staging, base and deltas
 * applied in order) equals the source's frozen state, path for path. A volume that was
 * not pre-copied (the helper program could not run) is copied whole through the archive
 * API: straight from one engine into the other, or into staging (`tar` encoding) and from
 * there into the destination.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine: a, container: 'db' }),
 *   precopyVolumes({ source: a, transport }),
 *   stopSource({ engine: a }),
 *   syncVolumes({ source: a, transport }),
 *   writeManifest({ transport }),
 * )
 * ```
 *
 * @param options - source, destination and/or transport, concurrency.
 * @return the stage operator.
 * @throws TransshipError `SOURCE_RUNNING`, `PIPELINE_ORDER`, `UNSAFE_ARCHIVE`, `HELPER_FAILED`.
 */
export function syncVolumes(options: SyncVolumesOptions) {
  return defineStage('sync-volumes', async (state, context) => {
    const source = requireSource(state, 'sync-volumes')
    const { State } = await options.source.inspectContainer(source.id)
    if (State.Running || State.Paused) {
      throw new TransshipError(
        'SOURCE_RUNNING',
        `sync-volumes needs container ${source.name} on ${options.source.url} frozen: put stopSource or checkpointSource before it`,
      )
    }
    const copied = state.volumes.filter((volume) => volume.artifact !== undefined)
    const results = await mapConcurrent(
      copied,
      options.concurrent ?? 4,
      context.signal,
      (volume, signal) => syncVolume(options, state, volume, { ...context, signal }),
    )
    const rounds = results.flatMap((result) => ('round' in result ? [result] : []))
    const whole = results.flatMap((result) => ('whole' in result ? [result.whole] : []))
    return withRounds({ ...state, artifacts: [...state.artifacts, ...whole] }, rounds)
  })
}

/** A round of a pre-copied volume, a whole volume (not pre-copied), or nothing changed. */
type Synced =
  | { volume: VolumeRecord; round: number; artifact: Artifact }
  | { whole: Artifact }
  | { none: true }

async function syncVolume(
  options: SyncVolumesOptions,
  state: MigrationState,
  volume: VolumeRecord,
  context: StageContext,
): Promise<Synced> {
  const source = requireSource(state, 'sync-volumes')
  const name = state.restoredVolumes[volume.name]
  if (options.destination && name === undefined) {
    throw new TransshipError(
      'PIPELINE_ORDER',
      `sync-volumes: ${volumeLabel(volume)} has no volume at ${options.destination.url}: put precopyVolumes before it`,
    )
  }
  const copy = state.precopied?.get(volume.name)
  if (copy) {
    const sink = volumeSink(options, source.backupId, volume, copy.destination, context)
    const label = `${volumeLabel(volume)}, changes while frozen`
    const result = await copy.source.delta(sink, roundContext(label, context))
    if (!result.digest) return { none: true }
    return {
      volume,
      round: result.round,
      artifact: roundArtifact(volume, result.round, result.digest),
    }
  }
  // Not pre-copied: the whole volume, through the archive API.
  const { transport, destination } = options
  if (!transport) {
    return {
      whole: await copyThroughArchiveApi(options, source.imageId, volume, name as string, context),
    }
  }
  const artifact = await backupVolume(
    { engine: options.source, transport },
    source.imageId,
    source.backupId,
    volume,
    context,
  )
  if (destination) {
    const image = await pickHelperImage(destination, [source.imageId, source.image])
    await fillVolume(
      transport,
      destination,
      image,
      source.backupId,
      volume,
      name as string,
      artifact,
      context,
    )
  }
  return { whole: artifact }
}

/** The whole volume, from the source's archive API into the destination's, checked and hashed. */
async function copyThroughArchiveApi(
  { source: from, destination }: SyncVolumesOptions,
  image: string,
  volume: VolumeRecord,
  name: string,
  { signal, progress }: StageContext,
): Promise<Artifact> {
  const to = destination as EngineClient
  const label = volumeLabel(volume)
  const hashing = hashingStream()
  const toImage = await pickHelperImage(to, [image])
  const read = {
    image,
    purpose: `read ${label}`,
    signal,
    mounts: [volumeMount(volume.name, true)(VOLUME_MOUNT)],
  }
  const fill = {
    image: toImage,
    purpose: `fill volume ${name}`,
    signal,
    mounts: [volumeMount(name, false)(VOLUME_MOUNT)],
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
        tarGuard({ root: VOLUME_MOUNT.slice(1), describe: `${label} on ${from.url}` }),
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
