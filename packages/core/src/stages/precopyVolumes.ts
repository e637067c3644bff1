import type Dockerode from 'dockerode'
import type { EngineClient } from '../engine/client.js'
import { NO_COPY, pickHelperImage } from '../engine/helperContainer.js'
import { helperProgramFor } from '../engine/helperProcess.js'
import type { Artifact, VolumeRecord } from '../manifest/schema.js'
import { mapConcurrent } from '../pipeline/concurrent.js'
import { defineStage, type StageContext } from '../pipeline/stage.js'
import { type RoundResult, TreeCopy } from '../precopy/treeCopy.js'
import { type OnConflict, planVolumes } from './destinationNames.js'
import { requireSource } from './require.js'
import { makeVolume } from './restoreVolumes.js'
import { volumeLabel } from './volumeLabel.js'

/** Options of {@link precopyVolumes}. */
export interface PrecopyVolumesOptions {
  /** The source engine; the container may still run. */
  readonly source: EngineClient
  /** The destination engine. */
  readonly destination: EngineClient
  /** What to do with volume names taken at the destination (default `fail`). */
  readonly onConflict?: OnConflict
  /** How many volumes are copied at once (default 2). */
  readonly concurrent?: number
}

/** Rounds while the source runs, after the first: each sends what changed during the last. */
const MAX_LIVE_ROUNDS = 3
/** A round that changed less than this is left to the round after the freeze. */
const LIVE_ROUND_BYTES = 8 * 1024 * 1024

/**
 * Stage `precopy-volumes`, the direct route's first phase: while the source container
 * still runs, makes each volume at the destination (as {@link restoreVolumes} does: same
 * driver, labels and options; named volumes keep their name) and copies the selected
 * volumes' content straight into them, engine to engine, through transship's helper
 * program (`packages/helper`), which packs at the source and unpacks at the destination.
 * Then, while what changed during the last round is large and shrinking, it sends that
 * again, so that little is left for {@link syncVolumes} after the freeze. Every archive
 * is checked on its way (names, links, format) and hashed.
 *
 * Where the helper cannot run (an engine of another architecture, no build of it), the
 * volumes are only made here, with a warning, and {@link syncVolumes} copies them after
 * the freeze through the archive API.
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
 * @param options - engines, conflict choice, concurrency.
 * @return the stage operator.
 * @throws TransshipError `VOLUME_NAME_TAKEN`, `UNSAFE_ARCHIVE`, `HELPER_FAILED`.
 */
export function precopyVolumes(options: PrecopyVolumesOptions) {
  return defineStage('precopy-volumes', async (state, context) => {
    const { source: from, destination: to } = options
    const source = requireSource(state, 'precopy-volumes')
    const plans = await planVolumes(to, state.volumes, options.onConflict ?? 'fail')
    const restored: Record<string, string> = {}
    for (const plan of plans) restored[plan.volume.name] = await makeVolume(to, plan, context)
    const copied = state.volumes.filter((volume) => volume.artifact !== undefined)
    if (copied.length === 0) return { ...state, restoredVolumes: restored }
    const [fromProgram, toProgram] = await Promise.all([
      helperProgramFor(from),
      helperProgramFor(to),
    ])
    if (fromProgram === undefined || toProgram === undefined) {
      const engine = fromProgram === undefined ? from : to
      context.warn(
        `transship's helper program is not built for the architecture of ${engine.url}: ` +
          'the volumes are copied after the freeze, through the archive API',
      )
      return { ...state, restoredVolumes: restored }
    }
    const images = await Promise.all([
      pickHelperImage(from, [source.imageId]),
      pickHelperImage(to, [source.imageId, source.image]),
    ])
    const copies = copied.map((volume) => {
      const name = restored[volume.name] as string
      return new TreeCopy(
        {
          engine: from,
          program: fromProgram,
          image: images[0],
          mount: volumeMount(volume.name, true),
          describe: `${volumeLabel(volume)} on ${from.url}`,
        },
        {
          engine: to,
          program: toProgram,
          image: images[1],
          mount: volumeMount(name, false),
          describe: `volume ${name} on ${to.url}`,
        },
      )
    })
    const artifacts = await mapConcurrent(
      copied,
      options.concurrent ?? 2,
      context.signal,
      (volume, signal) => {
        const copy = copies[copied.indexOf(volume)] as TreeCopy
        return precopy(copy, volume, { ...context, signal })
      },
    )
    return {
      ...state,
      restoredVolumes: restored,
      treeCopies: new Map(copied.map((volume, i) => [volume.name, copies[i] as TreeCopy])),
      artifacts: [...state.artifacts, ...artifacts.flat()],
    }
  })
}

/** The full copy, then live rounds while they pay. */
async function precopy(
  copy: TreeCopy,
  volume: VolumeRecord,
  context: StageContext,
): Promise<Artifact[]> {
  const label = volumeLabel(volume)
  const artifacts: Artifact[] = []
  let last = await copy.full(roundContext(label, context))
  artifacts.push(...roundArtifact(volume, copy, last))
  for (let round = 1; round <= MAX_LIVE_ROUNDS; round++) {
    const result = await copy.delta(roundContext(`${label}, changes (round ${round})`, context))
    artifacts.push(...roundArtifact(volume, copy, result))
    const shrinking = result.changedBytes < last.changedBytes / 2
    last = result
    if (result.changedBytes < LIVE_ROUND_BYTES || !shrinking) break
  }
  return artifacts
}

/**
 * How progress is reported for one round.
 *
 * @param label - what moves, e.g. `volume data, changes (round 1)`.
 * @param context - the stage's context.
 * @return the round's context.
 */
export function roundContext(label: string, { signal, progress }: StageContext) {
  return {
    signal,
    progress: (done: number, total?: number) => progress(label, done, total),
  }
}

/**
 * The artifact a round of a volume's copy adds to the state (and to the summary's bytes):
 * `volumes/<n>.tar` for the full copy, `volumes/<n>.delta-<round>.tar` after it.
 *
 * @param volume - the volume.
 * @param copy - its copy, after the round.
 * @param result - what the round sent.
 * @return the artifact, or none when nothing was sent.
 */
export function roundArtifact(
  volume: VolumeRecord,
  copy: TreeCopy,
  result: RoundResult,
): Artifact[] {
  if (!result.digest || !volume.artifact) return []
  const round = copy.rounds - 1
  const key =
    round === 0 ? volume.artifact : volume.artifact.replace(/\.tar$/, `.delta-${round}.tar`)
  return [{ key, kind: 'volume', encoding: 'tar', ...result.digest }]
}

/** A volume mounted into a helper container (read-only at the source). */
function volumeMount(name: string, readOnly: boolean) {
  return (target: string): Dockerode.MountSettings => ({
    Type: 'volume',
    Source: name,
    Target: target,
    ReadOnly: readOnly,
    ...(readOnly ? {} : { VolumeOptions: NO_COPY }),
  })
}
