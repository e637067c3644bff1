import { pipeline } from 'node:stream'
import { tarGuard } from '../archive/tarGuard.js'
import { verifyingStream } from '../archive/verifyingStream.js'
import { type EngineClient, shortId } from '../engine/client.js'
import { NO_COPY, pickHelperImage, withHelperContainer } from '../engine/helperContainer.js'
import { putArchive } from '../engine/putArchive.js'
import { TransshipError } from '../errors.js'
import type { Artifact, VolumeRecord } from '../manifest/schema.js'
import { meter } from '../pipeline/meter.js'
import { defineStage, type StageContext } from '../pipeline/stage.js'
import type { Transport } from '../transport/contract.js'
import { VOLUME_MOUNT } from './backupVolumes.js'
import { type OnConflict, planVolumes, type VolumePlan } from './destinationNames.js'
import { requireSource } from './require.js'
import { volumeLabel } from './volumeLabel.js'

/** Options of {@link restoreVolumes}. */
export interface RestoreVolumesOptions {
  /** The destination engine. */
  readonly engine: EngineClient
  /** Where the backup is. */
  readonly transport: Transport
  /** What to do with volume names taken at the destination (default `fail`). */
  readonly onConflict?: OnConflict
}

/**
 * Stage `restore-volumes`: creates each volume at the destination with the source's
 * driver, labels and driver options (a named volume keeps its name, an anonymous one gets
 * a fresh one), and fills it through the API from the transport. The archive is checked
 * as it streams: its sha256 and size against the manifest, and every entry against
 * escaping the volume. Any failure removes the volumes this stage made.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   readManifest({ transport, id }),
 *   restoreVolumes({ engine: destination, transport, onConflict: 'rename' }),
 * )
 * ```
 *
 * @param options - engine, transport, conflict choice.
 * @return the stage operator.
 * @throws TransshipError `VOLUME_NAME_TAKEN`, `INTEGRITY`, `UNSAFE_ARCHIVE`.
 */
export function restoreVolumes(options: RestoreVolumesOptions) {
  return defineStage('restore-volumes', async (state, context) => {
    const { engine } = options
    const source = requireSource(state, 'restore-volumes')
    const plans = await planVolumes(engine, state.volumes, options.onConflict ?? 'fail')
    const helperImage = await pickHelperImage(engine, [source.imageId])
    const restored: Record<string, string> = {}
    for (const plan of plans) {
      const name = await makeVolume(engine, plan, context)
      restored[plan.volume.name] = name
      const artifact = state.artifacts.find((a) => a.key === plan.volume.artifact)
      if (plan.volume.artifact && !artifact) {
        throw new TransshipError(
          'MANIFEST_INVALID',
          `volume ${plan.volume.name} names artifact ${plan.volume.artifact}, which the manifest does not list`,
        )
      }
      if (artifact) {
        await fillVolume(
          options.transport,
          engine,
          helperImage,
          source.backupId,
          plan.volume,
          name,
          artifact,
          context,
        )
      }
    }
    return { ...state, restoredVolumes: { ...state.restoredVolumes, ...restored } }
  })
}

/**
 * Makes one volume at the destination as planned (creates it with the source's driver,
 * labels and options, replaces or reuses a taken name), records its removal as the stage's
 * undo, and warns about what differs from the source.
 *
 * @param engine - the destination engine.
 * @param plan - what {@link planVolumes} decided for it.
 * @param context - the stage's context.
 * @return the volume's name at the destination.
 */
export async function makeVolume(
  engine: EngineClient,
  plan: VolumePlan,
  { undoable, warn }: StageContext,
): Promise<string> {
  const { volume } = plan
  if (plan.action === 'reuse') {
    warn(
      `volume ${plan.name} already exists on ${engine.url}: used as it is (its content was not copied)`,
    )
    return plan.name
  }
  if (plan.action === 'replace') {
    await engine.call(`remove volume ${plan.name} (replaced)`, (docker) =>
      docker.getVolume(plan.name).remove(),
    )
    warn(`volume ${plan.name} on ${engine.url} was replaced (--on-conflict replace)`)
  }
  const created = await engine.call(
    `create volume ${plan.name ?? `for ${volume.destination}`}`,
    (docker) =>
      docker.createVolume({
        ...(plan.name === undefined ? {} : { Name: plan.name }),
        Driver: volume.driver,
        DriverOpts: volume.driverOptions,
        Labels: volume.labels,
      }),
  )
  const { name } = created
  undoable(`remove volume ${shortId(name)} from ${engine.url}`, () =>
    engine.call(`remove volume ${shortId(name)}`, (docker) => docker.getVolume(name).remove()),
  )
  if (plan.action === 'create' && plan.name !== undefined && plan.name !== volume.name) {
    warn(`volume ${volume.name} is named ${plan.name} on ${engine.url} (--on-conflict rename)`)
  }
  if (volume.driver !== 'local') {
    warn(
      `volume ${volume.name} uses driver ${volume.driver}: its content was copied and the driver name kept; the driver must be installed on ${engine.url}`,
    )
  }
  return name
}

async function fillVolume(
  transport: Transport,
  engine: EngineClient,
  image: string,
  backupId: string,
  volume: VolumeRecord,
  name: string,
  artifact: Artifact,
  { signal, progress }: StageContext,
): Promise<void> {
  const key = `${backupId}/${artifact.key}`
  const label = volumeLabel(volume)
  const root = VOLUME_MOUNT.slice(1)
  await withHelperContainer(
    engine,
    {
      image,
      purpose: `fill volume ${name}`,
      mounts: [{ Type: 'volume', Source: name, Target: VOLUME_MOUNT, VolumeOptions: NO_COPY }],
      signal,
    },
    async (helper) => {
      const body = pipeline(
        await transport.get(key, { signal }),
        meter((bytes) => progress(label, bytes, artifact.size)),
        verifyingStream({ sha256: artifact.sha256, size: artifact.size }, `artifact ${key}`),
        tarGuard({ root, describe: `${label} in backup ${backupId}` }),
        () => {},
      )
      await putArchive(engine, helper, body, {
        path: '/',
        action: `fill volume ${shortId(name)}`,
        signal,
      })
    },
  )
}
