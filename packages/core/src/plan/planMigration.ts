import type Dockerode from 'dockerode'
import type { EngineClient } from '../engine/client.js'
import { listChanges } from '../engine/listChanges.js'
import { plainMessage } from '../pipeline/stage.js'
import { startMigration } from '../pipeline/startMigration.js'
import { stateAfter } from '../pipeline/stateAfter.js'
import { checkDestination } from '../stages/checkDestination.js'
import type { OnConflict } from '../stages/destinationNames.js'
import { missingNetworks, type OnMissingNetwork } from '../stages/destinationNetworks.js'
import { inspectSource } from '../stages/inspectSource.js'
import { previewChanges, type TargetChanges } from '../stages/targetChanges.js'

/** Options of {@link planMigration}. */
export interface PlanOptions {
  readonly source: EngineClient
  /** The destination, when known; without it the plan is that of a split backup. */
  readonly destination?: EngineClient
  readonly container: string
  readonly volumes?: readonly string[]
  readonly onConflict?: OnConflict
  readonly name?: string
  readonly onMissingNetwork?: OnMissingNetwork
  /** What the target changes from the source: env, ports, network and volume names. */
  readonly changes?: TargetChanges
  /** Whether the image may travel (false for `--no-image`); default true. */
  readonly includeImage?: boolean
  /** The ids of the containers that move with it (a group): volumes they share are not refused. */
  readonly movingWith?: readonly string[]
}

/** One volume in a plan. */
export interface PlannedVolume {
  readonly name: string
  readonly anonymous: boolean
  readonly destination: string
  readonly readOnly: boolean
  readonly driver: string
  /** Whether its content is copied (it was selected). */
  readonly copied: boolean
  /** Bytes in use at the source, as the engine counts them. */
  readonly size?: number
  /** In a group, the member that copies it, when another does (`planGroup`). */
  readonly copiedWith?: string
}

/** What a migration would move, and what would stop it. Made without changing anything. */
export interface MigrationPlan {
  readonly container: { readonly name: string; readonly id: string; readonly running: boolean }
  readonly source: string
  readonly destination?: string
  readonly volumes: readonly PlannedVolume[]
  readonly layer: {
    readonly method: 'overlay2' | 'changes'
    /** Bytes the container wrote on top of its image. */
    readonly size?: number
    readonly changes: { readonly added: number; readonly changed: number; readonly deleted: number }
  }
  readonly image: {
    readonly id: string
    readonly reference: string
    readonly size: number
    /** Whether it travels: the destination lacks it (or, unknown destination, unless `--no-image`). */
    readonly travels: boolean
    /** With a known destination: how many of the image's layers it already holds. */
    readonly layersAtDestination?: number
    readonly layers: number
  }
  /** What the target changes from its source (`describeChanges`). */
  readonly changes: readonly string[]
  /** Networks the destination lacks, to be created (or refused). */
  readonly networksToCreate: readonly string[]
  /** What would not be carried, or carried differently. */
  readonly warnings: readonly string[]
  /** What the destination check found that would stop the migration before it starts. */
  readonly problems: readonly string[]
}

/**
 * A dry run: what a migration of `container` would move (volumes, layer, image), with
 * sizes and warnings, and what would stop it. Reads both engines; changes nothing.
 *
 * ## Example
 * ```ts
 * const plan = await planMigration({ source: a, destination: b, container: 'web' })
 * console.log(plan.volumes.map((v) => `${v.name}: ${v.size} bytes`), plan.problems)
 * ```
 *
 * @param options - engines, container, the user's choices.
 * @return the plan.
 * @throws TransshipError `CONTAINER_NOT_FOUND`, `VOLUME_NOT_FOUND`, `ENGINE_UNREACHABLE` (source).
 */
export async function planMigration(options: PlanOptions): Promise<MigrationPlan> {
  const { source: engine, destination } = options
  const inspected = await stateAfter(
    startMigration().pipe(
      inspectSource({
        engine,
        container: options.container,
        ...(options.volumes ? { volumes: options.volumes } : {}),
        ...(options.movingWith ? { movingWith: options.movingWith } : {}),
      }),
    ),
  )
  const source = inspected.source
  if (!source) throw new Error('inspect gave no source')
  const [container, usage, changes, image] = await Promise.all([
    engine.call(
      `inspect container ${source.name} with sizes`,
      (docker) =>
        // `size` is a query parameter @types/dockerode does not list; SizeRw comes with it.
        docker
          .getContainer(source.id)
          .inspect({ size: true } as Dockerode.ContainerInspectOptions) as Promise<
          Dockerode.ContainerInspectInfo & { SizeRw?: number }
        >,
    ),
    volumeUsage(engine),
    listChanges(engine, source.id),
    engine.call(`inspect image ${source.imageId}`, (docker) =>
      docker.getImage(source.imageId).inspect(),
    ),
  ])
  const kinds = changes
  const problems: string[] = []
  // Changes that do not apply are a problem of their own: the check is not told them.
  const preview = previewChanges(source, inspected.volumes, options.changes)
  if (preview.problem) problems.push(preview.problem)
  const applied = preview.problem ? undefined : options.changes
  let destinationFacts:
    | { hasImage: boolean; layersAtDestination: number; missing: string[] }
    | undefined
  if (destination) {
    try {
      await stateAfter(
        startMigration().pipe(
          inspectSource({
            engine,
            container: options.container,
            ...(options.movingWith ? { movingWith: options.movingWith } : {}),
          }),
          checkDestination({
            engine: destination,
            sendImage: options.includeImage ?? true,
            hostAccess: 'warn',
            ...(options.onConflict ? { onConflict: options.onConflict } : {}),
            ...(options.name ? { name: options.name } : {}),
            ...(options.onMissingNetwork ? { onMissingNetwork: options.onMissingNetwork } : {}),
            ...(applied ? { changes: applied } : {}),
          }),
        ),
      )
    } catch (error) {
      problems.push(plainMessage(error).replace(/^check-destination failed: /, ''))
    }
    destinationFacts = await imageAtDestination(destination, image)
    destinationFacts.missing = (await missingNetworks(destination, preview.target.networks)).map(
      (n) => n.name,
    )
  }
  const layers = image.RootFS?.Layers?.length ?? 0
  const graph = container.GraphDriver as { Name: string; Data?: { UpperDir?: string } }
  return {
    container: { name: source.name, id: source.id, running: source.running },
    source: engine.url,
    ...(destination ? { destination: destination.url } : {}),
    volumes: inspected.volumes.map((volume) => ({
      name: volume.name,
      anonymous: volume.anonymous,
      destination: volume.destination,
      readOnly: volume.readOnly,
      driver: volume.driver,
      copied: volume.artifact !== undefined,
      ...(usage.has(volume.name) ? { size: usage.get(volume.name) } : {}),
    })),
    layer: {
      method: graph.Name === 'overlay2' && graph.Data?.UpperDir ? 'overlay2' : 'changes',
      ...(container.SizeRw === undefined ? {} : { size: container.SizeRw }),
      changes: {
        added: kinds.filter((c) => c.Kind === 1).length,
        changed: kinds.filter((c) => c.Kind === 0).length,
        deleted: kinds.filter((c) => c.Kind === 2).length,
      },
    },
    image: {
      id: source.imageId,
      reference: source.image,
      size: image.Size,
      travels: destinationFacts ? !destinationFacts.hasImage : (options.includeImage ?? true),
      layers,
      ...(destinationFacts ? { layersAtDestination: destinationFacts.layersAtDestination } : {}),
    },
    changes: preview.lines,
    networksToCreate: destinationFacts?.missing ?? [],
    warnings: inspected.warnings.map((warning) => warning.message),
    problems,
  }
}

/** Bytes in use per volume; `GET /system/df` on API 1.41 measures every volume. */
async function volumeUsage(engine: EngineClient): Promise<Map<string, number>> {
  const df = (await engine.call('disk usage', (docker) => docker.df())) as {
    Volumes?: { Name: string; UsageData?: { Size: number } }[]
  }
  return new Map(
    (df.Volumes ?? [])
      .filter((v) => v.UsageData && v.UsageData.Size >= 0)
      .map((v) => [v.Name, v.UsageData?.Size ?? 0]),
  )
}

/** Whether the destination holds the image, or how many of its layers, as a chain prefix. */
async function imageAtDestination(
  destination: EngineClient,
  image: Dockerode.ImageInspectInfo,
): Promise<{ hasImage: boolean; layersAtDestination: number; missing: string[] }> {
  const layers = image.RootFS?.Layers ?? []
  let best = 0
  for (const summary of await destination.listImages()) {
    if (summary.Id === image.Id)
      return { hasImage: true, layersAtDestination: layers.length, missing: [] }
    const other = await destination.call(`inspect image ${summary.Id}`, (docker) =>
      docker.getImage(summary.Id).inspect(),
    )
    const theirs = other.RootFS?.Layers ?? []
    let common = 0
    while (common < layers.length && theirs[common] === layers[common]) common++
    best = Math.max(best, common)
  }
  return { hasImage: false, layersAtDestination: best, missing: [] }
}
