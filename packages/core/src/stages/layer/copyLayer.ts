import { pipeline, type Readable, type Transform } from 'node:stream'
import { type ArtifactDigest, hashingStream } from '../../archive/hashingStream.js'
import { verifyingStream } from '../../archive/verifyingStream.js'
import type { EngineClient } from '../../engine/client.js'
import { TransshipError } from '../../errors.js'
import type { Artifact, LayerRecord } from '../../manifest/schema.js'
import { meter } from '../../pipeline/meter.js'
import { defineStage } from '../../pipeline/stage.js'
import { unpackInto } from '../../precopy/treeSinks.js'
import { requireSource } from '../require.js'
import { roundContext } from '../volumeTrees.js'
import { LAYER_ARTIFACT, LAYER_LABEL, sourceLayer } from './backupLayer.js'
import { layerRoundArtifact } from './precopyLayer.js'
import type { ChangesRead } from './readChanges.js'
import { neverStarted, writeLayer } from './restoreLayer.js'

/** Options of {@link copyLayer}. */
export interface CopyLayerOptions {
  /** The engine the (stopped) source container is on. */
  readonly source: EngineClient
  /** The engine the target was created on. */
  readonly destination: EngineClient
  /** How the changes are read where the source has no UpperDir (see `backupLayer`). */
  readonly changesRead?: ChangesRead
}

/**
 * Stage `copy-layer`: {@link backupLayer} and {@link restoreLayer} in one, without a
 * transport. Streams the stopped source container's writable layer, what it added,
 * changed and deleted on its image (read from its overlay2 UpperDir, or from what
 * `docker diff` lists), straight into the target that {@link createTarget} made and that
 * never started (into its UpperDir, or, where the destination has none, into a derived
 * image the target is made again from, with a warning). Every member is checked against
 * landing outside the container's root, and the layer is hashed on the way: the state
 * records the layer and its artifact (`layer.tar`, size and sha256) as a backup would.
 * A container that changed nothing on its image copies nothing. After
 * {@link precopyLayer}, only what changed since its last round moves.
 *
 * The image route names the layer's size and sha256 before its data, so there the layer
 * is read twice from the frozen source: once to learn them, then streamed and checked
 * against them (a difference fails with `INTEGRITY`).
 *
 * If it fails, the target keeps what was written (it never started), and
 * {@link createTarget}'s undo removes it; a derived image is removed.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine: a, container: 'web' }),
 *   createTarget({ engine: b }),
 *   stopSource({ engine: a }),
 *   copyLayer({ source: a, destination: b }),
 *   startTarget({ engine: b }),
 * )
 * ```
 *
 * @param options - source and destination engines, how to read changes.
 * @return the stage operator.
 * @throws TransshipError `PIPELINE_ORDER` (no target), `SOURCE_RUNNING`, `TARGET_STARTED`,
 *   `UNSAFE_ARCHIVE`, `INTEGRITY` (two reads differ, on the image route),
 *   `IMAGE_LOAD_FAILED`; the engines' errors.
 */
export function copyLayer(options: CopyLayerOptions) {
  return defineStage('copy-layer', async (state, context) => {
    const { source: engine, destination } = options
    const { progress } = context
    const source = requireSource(state, 'copy-layer')
    const target = state.target
    if (!target) {
      throw new TransshipError(
        'PIPELINE_ORDER',
        'copy-layer needs the target: put createTarget before it',
      )
    }
    const inspect = await neverStarted(destination, target)
    const { precopiedLayer } = state
    if (precopiedLayer?.destination) {
      const label = `${LAYER_LABEL}, changes while frozen`
      const result = await precopiedLayer.source.delta(
        unpackInto(precopiedLayer.destination),
        roundContext(label, context),
      )
      return { ...state, artifacts: [...state.artifacts, ...layerRoundArtifact(result)] }
    }
    const layer = await sourceLayer(engine, state, context, {
      stage: 'copy-layer',
      ...(options.changesRead ? { changesRead: options.changesRead } : {}),
    })
    if (!layer) return state
    let known: ArtifactDigest | undefined
    let hashing = hashingStream()
    const through = (stream: Readable, ...checks: Transform[]) =>
      pipeline(
        [stream, meter((bytes) => progress(LAYER_LABEL, bytes, known?.size)), ...checks, hashing],
        () => {},
      ) as unknown as Readable
    const next = await writeLayer(destination, state, context, {
      target: inspect,
      describe: `the layer of container ${source.name} on ${engine.url}`,
      read: (use) =>
        layer.read((stream) =>
          use(
            known
              ? through(
                  stream,
                  verifyingStream(known, `the second read of the layer of ${source.name}`),
                )
              : through(stream),
          ),
        ),
      digest: () =>
        layer.read(async (stream) => {
          for await (const _ of through(stream)) {
            // only hashed
          }
          known = await hashing.digest()
          hashing = hashingStream()
          return known
        }),
    })
    const { size, sha256 } = known ?? (await hashing.digest())
    const artifact: Artifact = { key: LAYER_ARTIFACT, kind: 'layer', size, sha256, encoding: 'tar' }
    const record: LayerRecord = {
      method: layer.method,
      artifact: LAYER_ARTIFACT,
      changes: layer.changes,
    }
    return { ...next, layer: record, artifacts: [...next.artifacts, artifact] }
  })
}
