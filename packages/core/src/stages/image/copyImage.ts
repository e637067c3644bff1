import { pipeline, type Readable } from 'node:stream'
import createDebug from 'debug'
import { hashingStream } from '../../archive/hashingStream.js'
import { tarFraming } from '../../archive/tarFraming.js'
import type { EngineClient } from '../../engine/client.js'
import { findImage, shortImageId } from '../../engine/images.js'
import type { Artifact } from '../../manifest/schema.js'
import { meter } from '../../pipeline/meter.js'
import { defineStage } from '../../pipeline/stage.js'
import { requireSource } from '../require.js'
import { IMAGE_ARTIFACT, openImageSave } from './backupImage.js'
import { loadImageRecord } from './restoreImage.js'

const debug = createDebug('transship:image')

/** Options of {@link copyImage}. */
export interface CopyImageOptions {
  /** The engine the container runs on. */
  readonly source: EngineClient
  /** The engine it moves to. */
  readonly destination: EngineClient
}

/**
 * Stage `copy-image`: {@link backupImage} and {@link restoreImage} in one, without a
 * transport. When the destination lacks the source container's image (compared by ID),
 * streams its `docker save` from the source engine straight into `docker load` at the
 * destination, without the bottom layers the destination holds, hashing it on the way:
 * the state records the image and its artifact (`image.tar`, size and sha256) as a backup
 * would, so that summaries count its bytes. The loaded image must have the source's ID;
 * it gets the source's tags that are free at the destination (a taken tag is left alone,
 * with a warning). When the destination holds the image, nothing moves.
 *
 * Put it before the freeze: the image does not change while the source runs. If a later
 * stage fails, the image is removed from the destination, as this stage loaded it.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine: a, container: 'web' }),
 *   checkDestination({ engine: b, sendImage: true }),
 *   copyImage({ source: a, destination: b }),
 *   checkpointSource({ engine: a, destination: b }),
 * )
 * ```
 *
 * @param options - source and destination engines.
 * @return the stage operator.
 * @throws TransshipError `IMAGE_MISSING` (the source engine no longer holds the image),
 *   `IMAGE_SAVE_INVALID`, `IMAGE_LOAD_FAILED`, `IMAGE_MISMATCH`; the engines' errors.
 */
export function copyImage(options: CopyImageOptions) {
  return defineStage('copy-image', async (state, context) => {
    const { source: engine, destination } = options
    const { signal, progress } = context
    const source = requireSource(state, 'copy-image')
    if (await findImage(destination, source.imageId)) {
      debug(
        '%s already holds image %s: it does not move',
        destination.url,
        shortImageId(source.imageId),
      )
      return state
    }
    const save = await openImageSave(engine, source, destination, signal)
    const hashing = hashingStream()
    const from = `image ${shortImageId(source.imageId)} on ${engine.url}`
    const body = pipeline(
      [
        save.stream,
        save.filter,
        meter((bytes) => progress('image', bytes)),
        hashing,
        tarFraming(`the docker save of ${from}`),
      ],
      () => {},
    ) as unknown as Readable
    try {
      await loadImageRecord(destination, save.record(), body, from, context)
    } finally {
      save.stream.destroy()
    }
    const image = save.record()
    const { size, sha256 } = await hashing.digest()
    const artifact: Artifact = { key: IMAGE_ARTIFACT, kind: 'image', size, sha256, encoding: 'tar' }
    return { ...state, image, artifacts: [...state.artifacts, artifact] }
  })
}
