import type Dockerode from 'dockerode'
import type { ArtifactDigest } from '../archive/hashingStream.js'
import type { EngineClient } from '../engine/client.js'
import { NO_COPY, pickHelperImage } from '../engine/helperContainer.js'
import { helperProgramFor } from '../engine/helperProcess.js'
import type { Artifact, VolumeRecord } from '../manifest/schema.js'
import type { StageContext } from '../pipeline/stage.js'
import type { MigrationState } from '../pipeline/state.js'
import { applyStoredTree, storeIn, unpackInto } from '../precopy/treeSinks.js'
import type { RoundContext, TreeEnd, TreeSink } from '../precopy/treeSource.js'
import type { Transport } from '../transport/contract.js'
import { undoStoring } from './storeArtifact.js'
import { volumeLabel } from './volumeLabel.js'

/**
 * Where a volume's rounds go: straight into the destination's volume (`destination`),
 * into staging (`transport`), or into staging and from there into the destination's
 * volume as soon as each is stored (both).
 */
export interface VolumeRoute {
  /** The source engine. */
  readonly source: EngineClient
  readonly destination?: EngineClient
  readonly transport?: Transport
  /**
   * Find what changed by each regular file's content hash rather than its ctime (the
   * helper reads every file once more for it): for who distrusts the file system's times.
   */
  readonly checksum?: boolean
}

/** The helper programs for a route's engines, or `undefined` where one cannot run. */
export interface RoutePrograms {
  readonly source: string
  readonly destination?: string
}

/**
 * The builds of transship's helper program a route needs, one per engine; `undefined`
 * when an engine's architecture has none (the archive API alone is used then), with a
 * warning that says so.
 *
 * @param route - the engines.
 * @param warn - the stage's warning.
 * @return the programs, or `undefined`.
 */
export async function routePrograms(
  route: VolumeRoute,
  warn: (message: string) => void,
): Promise<RoutePrograms | undefined> {
  const [source, destination] = await Promise.all([
    helperProgramFor(route.source),
    route.destination ? helperProgramFor(route.destination) : undefined,
  ])
  const missing =
    source === undefined
      ? route.source
      : route.destination && destination === undefined
        ? route.destination
        : undefined
  if (source === undefined || missing) {
    warn(
      `transship's helper program is not built for the architecture of ${missing?.url ?? route.source.url}: ` +
        'the volumes are copied whole after the freeze, through the archive API',
    )
    return undefined
  }
  return { source, ...(destination ? { destination } : {}) }
}

/** A volume mounted into a helper container: read-only at the source. */
export function volumeMount(name: string, readOnly: boolean) {
  return (target: string): Dockerode.MountSettings =>
    readOnly
      ? { Type: 'volume', Source: name, Target: target, ReadOnly: true }
      : { Type: 'volume', Source: name, Target: target, VolumeOptions: NO_COPY }
}

/**
 * A volume's tree on an engine, for transship's helper program.
 *
 * @param engine - the engine.
 * @param program - the helper program's build for it.
 * @param image - an image it holds.
 * @param name - the volume's name there.
 * @param readOnly - mounted read-only (the source).
 * @return the tree.
 */
export function volumeTree(
  engine: EngineClient,
  program: string,
  image: string,
  name: string,
  readOnly: boolean,
): TreeEnd {
  return {
    engine,
    program,
    image,
    mount: volumeMount(name, readOnly),
    describe: `volume ${name} on ${engine.url}`,
  }
}

/** The image helper containers are made from at the destination: the source's, else any. */
export function destinationImage(engine: EngineClient, state: MigrationState): Promise<string> {
  const source = state.source
  return pickHelperImage(engine, source ? [source.imageId, source.image] : [])
}

/**
 * The key of a volume's round: its artifact key for the full copy, then
 * `<artifact>.delta-<round>.tar`.
 */
export function roundKey(volume: VolumeRecord, round: number): string {
  const base = volume.artifact as string
  return round === 0 ? base : `${base.replace(/\.tar$/, '')}.delta-${round}.tar`
}

/** The artifact of a volume's round, in `tree` encoding. */
export function roundArtifact(
  volume: VolumeRecord,
  round: number,
  digest: ArtifactDigest,
): Artifact {
  return { key: roundKey(volume, round), kind: 'volume', encoding: 'tree', ...digest }
}

/**
 * The sink a volume's rounds go to on a route: the destination's volume, staging, or both.
 *
 * @param route - engines and transport.
 * @param backupId - the backup's id (the transport's key prefix).
 * @param volume - the volume at the source.
 * @param destinationTree - its tree at the destination, when the route has one.
 * @param context - the stage's context: undo steps for stored rounds, progress of applying them.
 * @return the sink.
 */
export function volumeSink(
  route: VolumeRoute,
  backupId: string,
  volume: VolumeRecord,
  destinationTree: TreeEnd | undefined,
  context: StageContext,
): TreeSink {
  const { transport } = route
  if (!transport) return unpackInto(destinationTree as TreeEnd)
  const keyOf = (round: number) => `${backupId}/${roundKey(volume, round)}`
  return storeIn(transport, keyOf, {
    storing: (key) => undoStoring(transport, key, context.undoable),
    stored: async (round, digest) => {
      if (!destinationTree) return
      const label = `${volumeLabel(volume)}, applying${round === 0 ? '' : ` round ${round}`}`
      await applyStoredTree(destinationTree, transport, keyOf(round), digest, {
        signal: context.signal,
        progress: (done, total) => context.progress(label, done, total),
      })
    },
  })
}

/**
 * How a round reports progress.
 *
 * @param label - what moves, e.g. `volume data, changes (round 1)`.
 * @param context - the stage's context.
 * @return the round's context.
 */
export function roundContext(label: string, { signal, progress }: StageContext): RoundContext {
  return { signal, progress: (done, total) => progress(label, done, total) }
}

/**
 * The state with a round's artifact recorded: in `artifacts`, and, for a later round, in
 * its volume's `deltas`.
 */
export function withRounds(
  state: MigrationState,
  rounds: readonly { volume: VolumeRecord; artifact: Artifact; round: number }[],
): MigrationState {
  const deltas = new Map<string, string[]>()
  for (const { volume, artifact, round } of rounds) {
    if (round > 0) deltas.set(volume.name, [...(deltas.get(volume.name) ?? []), artifact.key])
  }
  return {
    ...state,
    artifacts: [...state.artifacts, ...rounds.map((r) => r.artifact)],
    volumes: state.volumes.map((volume) => {
      const added = deltas.get(volume.name)
      return added ? { ...volume, deltas: [...(volume.deltas ?? []), ...added] } : volume
    }),
  }
}
