import { pipeline, type Readable } from 'node:stream'
import { rootTarGuard } from '../../archive/rootTarGuard.js'
import { verifyingStream } from '../../archive/verifyingStream.js'
import { type EngineClient, shortId } from '../../engine/client.js'
import { TransshipError } from '../../errors.js'
import type { Artifact } from '../../manifest/schema.js'
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
    const target = state.target
    if (!target) {
      throw new TransshipError(
        'PIPELINE_ORDER',
        'restore-layer needs the target: put createTarget before it',
      )
    }
    const artifact = state.artifacts.find((a) => a.key === layer.artifact && a.kind === 'layer')
    if (!artifact) {
      throw new TransshipError(
        'MANIFEST_INVALID',
        `the layer names artifact ${layer.artifact}, which the manifest does not list as a layer`,
      )
    }
    const inspect = await engine.inspectContainer(target.id)
    if (inspect.State.Running || inspect.State.StartedAt !== NEVER) {
      throw new TransshipError(
        'TARGET_STARTED',
        `container ${target.name} on ${engine.url} has started already: its layer is written before it first starts`,
      )
    }
    const { added, changed, deleted } = layer.changes
    if (added + changed + deleted === 0) return state
    const key = `${source.backupId}/${artifact.key}`
    const describe = `the container layer in backup ${source.backupId}`
    const open = async () =>
      pipeline(
        await transport.get(key, { signal: context.signal }),
        meter((bytes) => context.progress(LAYER_LABEL, bytes, artifact.size)),
        verifyingStream({ sha256: artifact.sha256, size: artifact.size }, `artifact ${key}`),
        rootTarGuard(describe),
        () => {},
      )
    const upperDir = upperDirOf(inspect)
    if (upperDir !== undefined) {
      await writeUpperDir(engine, await open(), {
        image: inspect.Image,
        upperDir,
        target: target.id,
        describe,
        signal: context.signal,
      })
      return state
    }
    const driver = (inspect.GraphDriver as { Name?: string } | undefined)?.Name ?? 'unknown'
    return withDerivedImage(options, state, target, artifact, inspect.Image, context, {
      describe,
      driver,
      open,
    })
  })
}

/** The image route: a derived image with the layer on top, and the target made from it. */
async function withDerivedImage(
  { engine }: RestoreLayerOptions,
  state: MigrationState,
  target: TargetRecord,
  artifact: Artifact,
  base: string,
  { signal, undoable, warn }: StageContext,
  how: { describe: string; driver: string; open: () => Promise<Readable> },
): Promise<MigrationState> {
  const backupId = state.id as string
  const tag = `${DERIVED_IMAGE_REPOSITORY}:${backupId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 128)}`
  const layer = await how.open()
  let image: Awaited<ReturnType<typeof loadDerivedImage>>
  try {
    image = await loadDerivedImage(engine, layer, {
      base,
      layer: artifact,
      tag,
      created: state.manifest?.createdAt ?? new Date(state.startedAt).toISOString(),
      describe: how.describe,
      signal,
    })
  } finally {
    layer.destroy()
  }
  const removeImage = () =>
    engine.call(`remove image ${shortId(image.id)}`, (docker) =>
      docker.getImage(image.id).remove({ noprune: false }),
    )
  let id: string
  try {
    id = await replaceTarget(engine, target, image.id)
  } catch (error) {
    if (image.loaded) await removeImage().catch(() => {})
    throw error
  }
  if (image.loaded) undoable(`remove image ${tag} from ${engine.url}`, removeImage)
  undoable(`remove container ${shortId(id)} from ${engine.url}`, () => engine.removeContainer(id))
  warn(
    `${engine.url} stores containers with ${how.driver}, which has no overlay2 UpperDir: the container layer ` +
      `went into image ${tag} (${shortId(image.id)}), made from ${shortId(base)} with the layer on top, ` +
      `and ${target.name} was made again from it; its docker diff does not list the layer's changes, and its image differs from the source's`,
  )
  // The container createTarget made is gone: its undo step would fail.
  const gone = `remove container ${shortId(target.id)}`
  return {
    ...state,
    target: { ...target, id },
    journal: state.journal.filter((entry) => !entry.description.startsWith(gone)),
  }
}
