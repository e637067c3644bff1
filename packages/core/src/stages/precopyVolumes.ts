import { pickHelperImage } from '../engine/helperContainer.js'
import type { Artifact, VolumeRecord } from '../manifest/schema.js'
import { mapConcurrent } from '../pipeline/concurrent.js'
import { defineStage, type StageContext } from '../pipeline/stage.js'
import type { PrecopiedTree } from '../pipeline/state.js'
import { type TreeSink, TreeSource } from '../precopy/treeSource.js'
import { type OnConflict, planVolumes } from './destinationNames.js'
import { requireSource } from './require.js'
import { makeVolume } from './restoreVolumes.js'
import { type TargetChanges, volumeNameChanges } from './targetChanges.js'
import { volumeLabel } from './volumeLabel.js'
import {
  destinationImage,
  roundArtifact,
  roundContext,
  routePrograms,
  type VolumeRoute,
  volumeSink,
  volumeTree,
  withRounds,
} from './volumeTrees.js'

/** Options of {@link precopyVolumes}. */
export interface PrecopyVolumesOptions extends VolumeRoute {
  /** What to do with volume names taken at the destination (default `fail`). */
  readonly onConflict?: OnConflict
  /** What the target changes from the source: its volumes' names among them. */
  readonly changes?: TargetChanges
  /** How many volumes are copied at once (default 2). */
  readonly concurrent?: number
}

/** A round's artifact, and the volume it belongs to. */
interface Round {
  readonly volume: VolumeRecord
  readonly round: number
  readonly artifact: Artifact
}

/**
 * Stage `precopy-volumes`, the pre-copy's first phase: while the source container still
 * runs, copies the selected volumes' content through transship's helper program
 * (`packages/helper`), which packs each volume at the source; then, while what changed
 * during the last round is large and shrinking (at most 3 more rounds), it sends that, so
 * that little is left for {@link syncVolumes} after the freeze. Each round's archive is
 * checked on its way (names, links, format) and hashed. Where it goes depends on the route:
 *
 * - `destination` alone (the direct route): straight into the volume, made here at the
 *   destination as {@link restoreVolumes} makes it (same driver, labels and options);
 * - `transport` alone (a backup): into staging, as the volume's artifact, later rounds as
 *   its `deltas` (`tree` encoding);
 * - both (a migration through staging): into staging, and from there into the volume at
 *   the destination as soon as each archive is stored.
 *
 * Where the helper cannot run (an engine of another architecture, no build of it, or an
 * engine that refuses its container before anything was copied), the volumes are only
 * made here, with a warning, and {@link syncVolumes} copies them whole after the freeze
 * through the archive API.
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
 * @param options - source, destination and/or transport, conflict choice, concurrency.
 * @return the stage operator.
 * @throws TransshipError `VOLUME_NAME_TAKEN`, `UNSAFE_ARCHIVE`, `HELPER_FAILED`, `INTEGRITY`.
 */
export function precopyVolumes(options: PrecopyVolumesOptions) {
  return defineStage('precopy-volumes', async (state, context) => {
    const { destination } = options
    const source = requireSource(state, 'precopy-volumes')
    const restored: Record<string, string> = { ...state.restoredVolumes }
    if (destination) {
      const plans = await planVolumes(
        destination,
        state.volumes,
        options.onConflict ?? 'fail',
        volumeNameChanges(state.volumes, options.changes),
      )
      for (const plan of plans)
        restored[plan.volume.name] = await makeVolume(destination, plan, context)
    }
    const made = { ...state, restoredVolumes: restored }
    const copied = state.volumes.filter((volume) => volume.artifact !== undefined)
    if (copied.length === 0) return made
    const programs = await routePrograms(options, context.warn)
    if (!programs) return made
    const sourceImage = await pickHelperImage(options.source, [source.imageId])
    const image = destination ? await destinationImage(destination, state) : undefined
    const precopied = new Map<string, PrecopiedTree>()
    for (const volume of copied) {
      const tree = volumeTree(options.source, programs.source, sourceImage, volume.name, true)
      precopied.set(volume.name, {
        source: new TreeSource(
          { ...tree, describe: `${volumeLabel(volume)} on ${options.source.url}` },
          { checksum: options.checksum ?? false },
        ),
        ...(destination && programs.destination && image
          ? {
              destination: volumeTree(
                destination,
                programs.destination,
                image,
                restored[volume.name] as string,
                false,
              ),
            }
          : {}),
      })
    }
    const rounds = await mapConcurrent(
      copied,
      options.concurrent ?? 2,
      context.signal,
      (volume, signal) => {
        const stage = { ...context, signal }
        const copy = precopied.get(volume.name) as PrecopiedTree
        const sink = volumeSink(options, source.backupId, volume, copy.destination, stage)
        return precopy(copy.source, sink, volume, stage).then((rounds) => {
          // The helper could not run: syncVolumes copies this one whole.
          if (!rounds) precopied.delete(volume.name)
          return rounds ?? []
        })
      },
    )
    return withRounds({ ...made, precopied }, rounds.flat())
  })
}

/**
 * The full copy, then live rounds while they pay: each round's artifact; `undefined` when
 * the helper could not run before anything was copied.
 */
async function precopy(
  tree: TreeSource,
  sink: TreeSink,
  volume: VolumeRecord,
  context: StageContext,
): Promise<Round[] | undefined> {
  const label = volumeLabel(volume)
  const results = await tree.precopyIfHelperRuns(
    sink,
    (round) => roundContext(round === 0 ? label : `${label}, changes (round ${round})`, context),
    context.warn,
  )
  return results?.flatMap(({ round, digest }) =>
    digest ? [{ volume, round, artifact: roundArtifact(volume, round, digest) }] : [],
  )
}
