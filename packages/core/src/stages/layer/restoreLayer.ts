import { pipeline, type Readable } from 'node:stream'
import type Dockerode from 'dockerode'
import type { ArtifactDigest } from '../../archive/hashingStream.js'
import { rootTarGuard } from '../../archive/rootTarGuard.js'
import { verifyingStream } from '../../archive/verifyingStream.js'
import { type EngineClient, shortId } from '../../engine/client.js'
import { TransshipError } from '../../errors.js'
import { targetKey, undo } from '../../ledger/undoSteps.js'
import { meter } from '../../pipeline/meter.js'
import { defineStage, type StageContext } from '../../pipeline/stage.js'
import type { MigrationState, TargetRecord } from '../../pipeline/state.js'
import type { Transport } from '../../transport/contract.js'
import { requireSource } from '../require.js'
import { LAYER_LABEL, upperDirOf } from './backupLayer.js'
import { loadDerivedImage } from './derivedImage.js'
import { replaceTarget } from './replaceTarget.js'
import { writeUpperDir } from './writeUpperDir.js'

/** Options of {@link restoreLayer}. */
export interface RestoreLayerOptions {
  /** The destination engine. */
  readonly engine: EngineClient
  /** Where the backup is. */
  readonly transport: Transport
}

/** The repository of the images the layer goes into where there is no UpperDir. */
export const DERIVED_IMAGE_REPOSITORY = 'transship-layer'

/** `State.StartedAt` of a container that never started. */
const NEVER = '0001-01-01T00:00:00Z'
/** The key of the target made again from the derived image, until the first one is gone. */
const replacementKey = (name: string) => `replacement ${targetKey(name)}`

/**
 * Stage `restore-layer`: writes the container layer of the backup into the target, after
 * {@link createTarget} made it and before it first starts. The artifact is checked as it
 * streams: its sha256 and size against the manifest, and every member against landing
 * outside the container's root.
 *
 * On overlay2, the layer goes into the target's UpperDir, bind-mounted into a created,
 * never-started helper container, deletions as overlayfs whiteouts: `docker diff` of the
 * target then lists what the source's listed. Elsewhere (other storage drivers), the
 * archive API cannot delete, so the layer becomes the top layer of a derived image
 * (`transship-layer:<backup id>`, loaded with `POST /images/load` without the base's
 * layers), and the target is made again from that image with the same name and
 * configuration; a warning says so, since its `docker diff` and image ID then differ from
 * the source's. A backup without a layer changes nothing.
 *
 * If the stage fails on the image route, the derived image is removed and the target is
 * left as it was; on overlay2, a failure midway leaves the target with part of the layer
 * (it was never started), and {@link createTarget}'s undo removes it.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   readManifest({ transport, id }),
 *   restoreVolumes({ engine, transport }),
 *   createTarget({ engine }),
 *   restoreLayer({ engine, transport }),
 *   startTarget({ engine }),
 * )
 * ```
 *
 * @param options - engine and transport.
 * @return the stage operator.
 * @throws TransshipError `INTEGRITY`, `UNSAFE_ARCHIVE`, `TARGET_STARTED` when the target
 *   has run already, `IMAGE_LOAD_FAILED`.
 */
export function restoreLayer(options: RestoreLayerOptions) {
  return defineStage('restore-layer', async (state, context) => {
    const { engine, transport } = options
    const { layer } = state
    if (!layer) return state
    const source = requireSource(state, 'restore-layer')
    const target = targetOf(state, 'restore-layer')
    const artifact = state.artifacts.find((a) => a.key === layer.artifact && a.kind === 'layer')
    if (!artifact) {
      throw new TransshipError(
        'MANIFEST_INVALID',
        `the layer names artifact ${layer.artifact}, which the manifest does not list as a layer`,
      )
    }
    const inspect = await neverStarted(engine, target)
    const { added, changed, deleted } = layer.changes
    if (added + changed + deleted === 0) return state
    const key = `${source.backupId}/${artifact.key}`
    return writeLayer(engine, state, context, {
      target: inspect,
      describe: `the container layer in backup ${source.backupId}`,
      read: async (use) =>
        use(
          pipeline(
            await transport.get(key, { signal: context.signal }),
            meter((bytes) => context.progress(LAYER_LABEL, bytes, artifact.size)),
            verifyingStream({ sha256: artifact.sha256, size: artifact.size }, `artifact ${key}`),
            () => {},
          ),
        ),
      digest: async () => artifact,
    })
  })
}

/** A layer to write into the target, checked upstream: what {@link writeLayer} is given. */
export interface LayerToWrite {
  /** The target as the engine inspects it, never started: from {@link neverStarted}. */
  readonly target: Dockerode.ContainerInspectInfo
  /** What the layer is, for messages, e.g. `the container layer in backup b1`. */
  readonly describe: string
  /**
   * Opens the layer and hands its tar stream to `use`, cleaning up once `use` returns;
   * the image route may read it twice (see `digest`).
   */
  read<T>(use: (layer: Readable) => Promise<T>): Promise<T>
  /**
   * The layer's size and sha256, which the image route (no UpperDir) names before the
   * layer's data; the stream `read` gives then must match them.
   */
  digest(): Promise<ArtifactDigest>
}

/**
 * The restore half of the layer's journey: writes a layer into a created, never-started
 * target as {@link restoreLayer} describes, each member checked against landing outside
 * the container's root: into its UpperDir on overlay2, else into a derived image the
 * target is made again from (its undo steps replace createTarget's for the old one).
 * {@link restoreLayer} feeds it from the transport, `copyLayer` from the source engine.
 *
 * @param engine - the destination engine.
 * @param state - the migration state, with the target.
 * @param context - the stage's context.
 * @param layer - the target, the layer, its digest.
 * @return the state, with the target re-made on the image route.
 * @throws TransshipError `UNSAFE_ARCHIVE`, `IMAGE_LOAD_FAILED`; the stream's error.
 */
export async function writeLayer(
  engine: EngineClient,
  state: MigrationState,
  context: StageContext,
  layer: LayerToWrite,
): Promise<MigrationState> {
  const { target: inspect, describe } = layer
  const target = targetOf(state, 'write-layer')
  const guarded = <T>(use: (stream: Readable) => Promise<T>) =>
    layer.read((stream) => use(pipeline(stream, rootTarGuard(describe), () => {})))
  const upperDir = upperDirOf(inspect)
  if (upperDir !== undefined) {
    await guarded((stream) =>
      writeUpperDir(engine, stream, {
        image: inspect.Image,
        upperDir,
        target: target.id,
        describe,
        signal: context.signal,
      }),
    )
    return state
  }
  const driver = (inspect.GraphDriver as { Name?: string } | undefined)?.Name ?? 'unknown'
  return withDerivedImage(engine, state, target, inspect.Image, context, {
    describe,
    driver,
    digest: await layer.digest(),
    read: guarded,
  })
}

/**
 * @return the state's target.
 * @throws TransshipError `PIPELINE_ORDER` when there is none.
 */
function targetOf(state: MigrationState, stage: string): TargetRecord {
  if (!state.target) {
    throw new TransshipError(
      'PIPELINE_ORDER',
      `${stage} needs the target: put createTarget before it`,
    )
  }
  return state.target
}

/**
 * Inspects the target, which must never have started: its layer is written before.
 *
 * @param engine - the destination engine.
 * @param target - the target.
 * @return its inspect.
 * @throws TransshipError `TARGET_STARTED` when it has run already.
 */
export async function neverStarted(
  engine: EngineClient,
  target: TargetRecord,
): Promise<Dockerode.ContainerInspectInfo> {
  const inspect = await engine.inspectContainer(target.id)
  if (inspect.State.Running || inspect.State.StartedAt !== NEVER) {
    throw new TransshipError(
      'TARGET_STARTED',
      `container ${target.name} on ${engine.url} has started already: its layer is written before it first starts`,
    )
  }
  return inspect
}

/** The image route: a derived image with the layer on top, and the target made from it. */
async function withDerivedImage(
  engine: EngineClient,
  state: MigrationState,
  target: TargetRecord,
  base: string,
  { signal, undoable, warn }: StageContext,
  how: {
    describe: string
    driver: string
    digest: ArtifactDigest
    read: <T>(use: (layer: Readable) => Promise<T>) => Promise<T>
  },
): Promise<MigrationState> {
  const backupId = state.id as string
  const tag = `${DERIVED_IMAGE_REPOSITORY}:${backupId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 128)}`
  const imageStep = undo.removeImage(engine, tag)
  await undoable(imageStep)
  const image = await how.read(async (layer) => {
    try {
      return await loadDerivedImage(engine, layer, {
        base,
        layer: how.digest,
        tag,
        created: state.manifest?.createdAt ?? new Date(state.startedAt).toISOString(),
        describe: how.describe,
        signal,
      })
    } finally {
      layer.destroy()
    }
  })
  // The engine held it already (the same backup restored before): not this run's to remove.
  if (!image.loaded) await state.ledger.settle(imageStep.key, 'dropped')
  // Until the old target is gone, a crash leaves both: each has its step.
  const replacement = undo.removeContainer(
    engine,
    { name: target.name },
    replacementKey(target.name),
  )
  await undoable(replacement)
  const id = await replaceTarget(engine, target, image.id)
  await undoable(undo.removeContainer(engine, { id }, targetKey(target.name)))
  await state.ledger.settle(replacement.key, 'dropped')
  warn(
    `${engine.url} stores containers with ${how.driver}, which has no overlay2 UpperDir: the container layer ` +
      `went into image ${tag} (${shortId(image.id)}), made from ${shortId(base)} with the layer on top, ` +
      `and ${target.name} was made again from it; its docker diff does not list the layer's changes, and its image differs from the source's`,
  )
  return { ...state, target: { ...target, id } }
}
