import type { Readable } from 'node:stream'
import createDebug from 'debug'
import type { EngineClient } from '../../engine/client.js'
import { findImage, shortImageId } from '../../engine/images.js'
import { TransshipError } from '../../errors.js'
import type { ImageRecord, SourceContainer } from '../../manifest/schema.js'
import { defineStage } from '../../pipeline/stage.js'
import type { Transport } from '../../transport/contract.js'
import { requireSource } from '../require.js'
import { storeArtifact } from '../storeArtifact.js'
import { type ImageSaveFilter, imageSaveFilter } from './imageSaveFilter.js'
import { heldLayerCount, saveImage } from './images.js'

const debug = createDebug('transship:image')

/** The image's artifact key, under the backup's prefix. */
export const IMAGE_ARTIFACT = 'image.tar'

/** Options of {@link backupImage}. */
export interface BackupImageOptions {
  /** The source engine. */
  readonly engine: EngineClient
  /** Where the image goes. */
  readonly transport: Transport
  /**
   * The destination engine, when known (a migration): the image travels only if it lacks
   * it, and without the layers it holds. Unknown (a split backup): the whole image travels.
   */
  readonly destination?: EngineClient
  /** `false` (`--no-image`): the image never travels; the destination must hold it. */
  readonly include?: boolean
}

/**
 * Stage `backup-image`: when the destination lacks the source container's image (compared
 * by ID), streams it in `docker save` format into the transport as `image.tar`, hashing it
 * on the way, and records it in the state with the tags it has at the source. When the
 * destination holds the image's bottom layers (another image there starts with them), it
 * sends a thin save without their data; `docker load` there skips the layers it holds.
 * When the destination is not known, the whole image goes, unless `include` is `false`.
 * When the destination holds the image, nothing travels and the state has no `image`.
 *
 * The save is made by ID, in one pass (see {@link imageSaveFilter} for how the layers to
 * leave out are recognised before the save's manifest.json has arrived).
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine: a, container: 'web' }),
 *   stopSource({ engine: a }),
 *   backupImage({ engine: a, transport, destination: b }),
 *   backupVolumes({ engine: a, transport }),
 *   writeManifest({ transport }),
 * )
 * ```
 *
 * @param options - source engine, transport, destination engine if known, `include`.
 * @return the stage operator.
 * @throws TransshipError `IMAGE_SAVE_INVALID` when the save cannot be followed; the engine's
 *   and the transport's errors.
 */
export function backupImage(options: BackupImageOptions) {
  return defineStage('backup-image', async (state, context) => {
    const { engine, transport, destination } = options
    const { signal, warn } = context
    const source = requireSource(state, 'backup-image')
    // Another member of the group stores it (`shareImage`).
    if (state.image?.copiedWith !== undefined) return state
    const id = source.imageId
    if (destination && (await findImage(destination, id))) {
      debug('%s already holds image %s: it does not travel', destination.url, shortImageId(id))
      return state
    }
    if (options.include === false) {
      warn(
        `image ${source.image} (${id}) is not in the backup (--no-image): the destination must hold it`,
      )
      return state
    }
    const save = await openImageSave(engine, source, destination, signal)
    const artifact = await storeArtifact(
      {
        transport,
        backupId: source.backupId,
        key: IMAGE_ARTIFACT,
        kind: 'image',
        label: 'image',
        source: save.stream,
        through: [save.filter],
      },
      context,
    )
    return { ...state, image: save.record(), artifacts: [...state.artifacts, artifact] }
  })
}

/** A `docker save` of the source's image under way, from {@link openImageSave}. */
export interface ImageSave {
  /** The engine's archive; pass it through `filter`, and destroy it when done. */
  readonly stream: Readable
  /** Leaves out the layers the destination holds: the archive's bytes as they travel. */
  readonly filter: ImageSaveFilter
  /** The image as the state records it, once the archive went through `filter` to its end. */
  record(): ImageRecord
}

/**
 * Opens the save of the source container's image, thin when the destination holds its
 * bottom layers (see {@link imageSaveFilter}): the backup half of an image's journey,
 * which {@link backupImage} stores and `copyImage` loads at the destination at once.
 *
 * @param engine - the source engine.
 * @param source - the source container.
 * @param destination - the destination engine, when known: its layers are left out.
 * @param signal - aborts the inspections and the save.
 * @return the save under way.
 * @throws TransshipError `IMAGE_MISSING` when the source engine no longer holds the image.
 */
export async function openImageSave(
  engine: EngineClient,
  source: SourceContainer,
  destination: EngineClient | undefined,
  signal: AbortSignal,
): Promise<ImageSave> {
  const id = source.imageId
  const image = await findImage(engine, id)
  if (!image) {
    throw new TransshipError(
      'IMAGE_MISSING',
      `image ${source.image} (${id}) of container ${source.name} is no longer on ${engine.url}`,
    )
  }
  const layers = image.RootFS?.Layers ?? []
  const held = destination ? await heldLayerCount(destination, layers, signal) : 0
  debug(
    'image %s: %d layers, %d held by %s',
    shortImageId(id),
    layers.length,
    held,
    destination?.url ?? 'no known destination',
  )
  const stream = await saveImage(engine, id, signal)
  const filter = imageSaveFilter({
    layers,
    omit: held,
    describe: `docker save of image ${shortImageId(id)} on ${engine.url}`,
  })
  const tags = (image.RepoTags ?? []).filter((tag) => tag !== '<none>:<none>')
  return {
    stream,
    filter,
    record: () => ({ id, tags, artifact: IMAGE_ARTIFACT, omittedLayers: [...filter.omitted] }),
  }
}
