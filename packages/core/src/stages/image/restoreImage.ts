import { pipeline, type Readable, Writable } from 'node:stream'
import { pipeline as pipelineTo } from 'node:stream/promises'
import createDebug from 'debug'
import { tarFraming } from '../../archive/tarFraming.js'
import { verifyingStream } from '../../archive/verifyingStream.js'
import type { EngineClient } from '../../engine/client.js'
import { findImage, shortImageId } from '../../engine/images.js'
import { TransshipError } from '../../errors.js'
import { undo } from '../../ledger/undoSteps.js'
import type { ImageRecord } from '../../manifest/schema.js'
import { meter } from '../../pipeline/meter.js'
import { defineStage, type StageContext } from '../../pipeline/stage.js'
import type { Transport } from '../../transport/contract.js'
import { requireSource } from '../require.js'
import { imageLoadGuard } from './imageLoadGuard.js'
import { heldLayerCount, loadImage, tagImage } from './images.js'

const debug = createDebug('transship:image')

/** Options of {@link restoreImage}. */
export interface RestoreImageOptions {
  /** The destination engine. */
  readonly engine: EngineClient
  /** Where the backup is. */
  readonly transport: Transport
}

/**
 * Stage `restore-image`: when the backup carries the image and the destination lacks it
 * (compared by ID), loads it with `docker load` from the transport, checking its size and
 * sha256 as it streams: a mismatch fails the load and leaves nothing. The loaded image
 * must have the recorded ID; it gets the source's tags that are free at the destination
 * (a tag naming another image there is left alone, with a warning: the target then uses
 * the image by ID). A thin image needs the destination to still hold the layers left out.
 * If a later stage fails, the image is removed, as this stage loaded it.
 *
 * Put it first in the restore half: helper containers are made from the image.
 *
 * ## Example
 * ```ts
 * startMigration({ id }).pipe(
 *   readManifest({ transport, id }),
 *   restoreImage({ engine: b, transport }),
 *   restoreVolumes({ engine: b, transport }),
 * )
 * ```
 *
 * @param options - destination engine, transport.
 * @return the stage operator.
 * @throws TransshipError `IMAGE_LAYERS_MISSING` (a thin image whose left-out layers the
 *   destination no longer holds), `INTEGRITY`, `IMAGE_LOAD_FAILED`, `IMAGE_MISMATCH` (the
 *   engine loaded another image than recorded), `MANIFEST_INVALID`.
 */
export function restoreImage(options: RestoreImageOptions) {
  return defineStage('restore-image', async (state, context) => {
    const { engine, transport } = options
    const { image } = state
    // Another member of the group loads it, before this one.
    if (!image || image.copiedWith !== undefined) return state
    const source = requireSource(state, 'restore-image')
    const artifact = state.artifacts.find((a) => a.key === image.artifact && a.kind === 'image')
    if (!artifact) {
      throw new TransshipError(
        'MANIFEST_INVALID',
        `the image names artifact ${image.artifact}, which the manifest does not list as an image`,
      )
    }
    const { signal, progress } = context
    const key = `${source.backupId}/${artifact.key}`
    const checks = () =>
      [
        meter((bytes) => progress('image', bytes, artifact.size)),
        verifyingStream({ sha256: artifact.sha256, size: artifact.size }, `artifact ${key}`),
      ] as const
    if (await findImage(engine, image.id)) {
      debug('%s already holds image %s: not loaded', engine.url, shortImageId(image.id))
      // Read all the same: a backup whose any byte was changed is refused as a whole.
      await pipelineTo([await transport.get(key, { signal }), ...checks(), discarding()])
      return state
    }
    await assertLayersHeld(engine, image, source.image, signal)

    const body = pipeline(
      await transport.get(key, { signal }),
      ...checks(),
      tarFraming(`artifact ${key}`),
      // What the staging holds is untrusted: the load may add this image, nothing else.
      imageLoadGuard({ imageId: image.id, describe: `artifact ${key}` }),
      () => {},
    )
    await loadImageRecord(engine, image, body, key, context)
    return state
  })
}

/**
 * Loads an image at the destination from a `docker save` stream checked upstream, and
 * gives it the source's tags that are free there (see {@link restoreImage}); the restore
 * half of an image's journey, which `copyImage` feeds from the source engine at once.
 * Its undo, registered before the load, removes the image.
 *
 * @param engine - the destination engine.
 * @param image - the image as the state records it.
 * @param body - the archive; destroyed when the load ends.
 * @param from - where the archive comes from, for messages, e.g. `b1/image.tar`.
 * @param context - the stage's context.
 * @throws TransshipError `IMAGE_LOAD_FAILED`, `IMAGE_MISMATCH` (the engine loaded another
 *   image than recorded); the stream's error.
 */
export async function loadImageRecord(
  engine: EngineClient,
  image: ImageRecord,
  body: Readable,
  from: string,
  context: StageContext,
): Promise<void> {
  const { signal, undoable } = context
  // Registered first: a load that fails late may still have made the image.
  await undoable(undo.removeImage(engine, image.id))
  const loaded = await loadImage(engine, body, {
    action: `load image ${shortImageId(image.id)}`,
    signal,
  })
  if (!(await findImage(engine, image.id))) {
    throw new TransshipError(
      'IMAGE_MISMATCH',
      `engine ${engine.url} loaded ${loaded.join(', ') || 'nothing'} from ${from}, not image ${image.id}`,
    )
  }
  await applyTags(engine, image, context)
}

/** A thin image loads only where the layers it leaves out are held. */
async function assertLayersHeld(
  engine: EngineClient,
  image: ImageRecord,
  name: string,
  signal: AbortSignal,
): Promise<void> {
  const omitted = image.omittedLayers
  if (omitted.length === 0) return
  const held = await heldLayerCount(engine, omitted, signal)
  if (held === omitted.length) return
  throw new TransshipError(
    'IMAGE_LAYERS_MISSING',
    `image ${name} (${image.id}) travelled without its ${omitted.length} bottom layers, ` +
      `which the destination held when the backup was taken, but ${engine.url} no longer ` +
      `holds ${omitted.slice(held).join(', ')}: load an image with those layers there ` +
      '(e.g. the base image), or take the backup again',
  )
}

/** Gives the loaded image the source's tags that are free at the destination. */
async function applyTags(
  engine: EngineClient,
  image: ImageRecord,
  { warn }: StageContext,
): Promise<void> {
  for (const tag of image.tags) {
    const current = await findImage(engine, tag)
    if (current?.Id === image.id) continue
    if (current) {
      warn(
        `tag ${tag} on ${engine.url} names another image (${current.Id}): left as it is; ` +
          `the loaded image ${image.id} is not tagged ${tag}`,
      )
      continue
    }
    await tagImage(engine, image.id, tag)
  }
}

/** A sink that drops what it is given: for reading an artifact only to verify it. */
function discarding(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback()
    },
  })
}
