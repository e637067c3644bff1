import { pipeline } from 'node:stream'
import { tarGuard } from '../archive/tarGuard.js'
import { verifyingStream } from '../archive/verifyingStream.js'
import { type EngineClient, shortId } from '../engine/client.js'
import { NO_COPY, pickHelperImage, withHelperContainer } from '../engine/helperContainer.js'
import { helperProgramFor } from '../engine/helperProcess.js'
import { putArchive } from '../engine/putArchive.js'
import { TransshipError } from '../errors.js'
import { undo } from '../ledger/undoSteps.js'
import type { Artifact, VolumeRecord } from '../manifest/schema.js'
import { meter } from '../pipeline/meter.js'
import { defineStage, type StageContext } from '../pipeline/stage.js'
import type { MigrationState } from '../pipeline/state.js'
import { applyStoredTree } from '../precopy/treeSinks.js'
import type { Transport } from '../transport/contract.js'
import { VOLUME_MOUNT } from './backupVolumes.js'
import { type OnConflict, planVolumes, type VolumePlan } from './destinationNames.js'
import { requireSource } from './require.js'
import { type TargetChanges, volumeNameChanges } from './targetChanges.js'
import { volumeLabel } from './volumeLabel.js'
import { volumeTree } from './volumeTrees.js'

/** Options of {@link restoreVolumes}. */
export interface RestoreVolumesOptions {
  /** The destination engine. */
  readonly engine: EngineClient
  /** Where the backup is. */
  readonly transport: Transport
  /** What to do with volume names taken at the destination (default `fail`). */
  readonly onConflict?: OnConflict
  /** What the target changes from the source: env, ports, network and volume names. */
  readonly changes?: TargetChanges
}

/**
 * Stage `restore-volumes`: creates each volume at the destination with the source's
 * driver, labels and driver options (a named volume keeps its name, an anonymous one gets
 * a fresh one), and fills it from the transport: an archive of the engine's archive API
 * (`tar`) through that API; a pre-copied volume (`tree`: its content, then its deltas in
 * order) through transship's helper program. Every archive is checked as it streams: its
 * sha256 and size against the manifest, and every entry against escaping the volume. Any
 * failure removes the volumes this stage made.
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
 * @throws TransshipError `VOLUME_NAME_TAKEN`, `INTEGRITY`, `UNSAFE_ARCHIVE`,
 *   `HELPER_UNAVAILABLE` (a pre-copied backup, and no helper program for the destination).
 */
export function restoreVolumes(options: RestoreVolumesOptions) {
  return defineStage('restore-volumes', async (state, context) => {
    const { engine } = options
    const source = requireSource(state, 'restore-volumes')
    const plans = await planVolumes(
      engine,
      state.volumes,
      options.onConflict ?? 'fail',
      volumeNameChanges(state.volumes, options.changes),
    )
    const helperImage = await pickHelperImage(engine, [source.imageId])
    const restored: Record<string, string> = {}
    for (const plan of plans) {
      const name = await makeVolume(engine, plan, context)
      restored[plan.volume.name] = name
      const [artifact, ...deltas] = artifactsOf(state, plan.volume)
      if (artifact?.encoding === 'tree') {
        const tree = volumeTree(
          engine,
          await treeProgram(engine, plan.volume),
          helperImage,
          name,
          false,
        )
        for (const stored of [artifact, ...deltas]) {
          const label = `${volumeLabel(plan.volume)}${stored === artifact ? '' : ', changes'}`
          await applyStoredTree(
            tree,
            options.transport,
            `${source.backupId}/${stored.key}`,
            stored,
            {
              signal: context.signal,
              progress: (done, total) => context.progress(label, done, total),
            },
          )
        }
      } else if (artifact) {
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
  // Write-ahead where the name is known; an anonymous volume's comes from the engine.
  const bound = boundDirectoryOf(volume.driver, volume.driverOptions)
  if (plan.name !== undefined) await undoable(undo.removeVolume(engine, plan.name, bound))
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
  if (plan.name === undefined) await undoable(undo.removeVolume(engine, name, bound))
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

/**
 * The host directory a volume is bound to, when it is one of the local driver's bind
 * volumes (`--opt type=none --opt o=bind --opt device=DIR`): its content lives there, and
 * stays there when the volume is removed.
 *
 * @param driver - the volume's driver.
 * @param options - its driver options.
 * @return the directory, or `undefined`.
 */
export function boundDirectoryOf(
  driver: string,
  options: Readonly<Record<string, string>> | undefined,
): string | undefined {
  if (driver !== 'local' || options?.device === undefined) return undefined
  const mountOptions = (options.o ?? '').split(',').map((option) => option.trim())
  return mountOptions.includes('bind') || mountOptions.includes('rbind')
    ? options.device
    : undefined
}

/**
 * Fills a volume at the destination from an artifact in `tar` encoding (an archive of the
 * engine's archive API), checked as it streams, through the archive API.
 *
 * @param transport - where the artifact is.
 * @param engine - the destination engine.
 * @param image - an image it holds, for the helper container.
 * @param backupId - the backup's id.
 * @param volume - the source's volume.
 * @param name - the volume's name at the destination.
 * @param artifact - the artifact.
 * @param context - the stage's context.
 */
export async function fillVolume(
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

/**
 * A volume's artifacts, as the manifest lists them: its content, then its deltas in order.
 *
 * @throws TransshipError `MANIFEST_INVALID` when one is not listed, or deltas follow an
 *   archive that is not a tree.
 */
function artifactsOf(state: MigrationState, volume: VolumeRecord): Artifact[] {
  const keys = volume.artifact ? [volume.artifact, ...(volume.deltas ?? [])] : []
  const artifacts = keys.map((key) => {
    const artifact = state.artifacts.find((a) => a.key === key && a.kind === 'volume')
    if (!artifact) {
      throw new TransshipError(
        'MANIFEST_INVALID',
        `volume ${volume.name} names artifact ${key}, which the manifest does not list as a volume's`,
      )
    }
    return artifact
  })
  if (artifacts.length > 1 && artifacts.some((artifact) => artifact.encoding !== 'tree')) {
    throw new TransshipError(
      'MANIFEST_INVALID',
      `volume ${volume.name} has deltas, but not every one of its artifacts is a tree archive`,
    )
  }
  return artifacts
}

/** The helper program that unpacks tree archives at the destination; refuses where none runs. */
async function treeProgram(engine: EngineClient, volume: VolumeRecord): Promise<string> {
  const program = await helperProgramFor(engine)
  if (program === undefined) {
    const { Architecture } = await engine.info()
    throw new TransshipError(
      'HELPER_UNAVAILABLE',
      `${volumeLabel(volume)} was backed up by transship's helper program, which has no build for ${engine.url} (${String(Architecture)}): it cannot be restored there`,
    )
  }
  return program
}
