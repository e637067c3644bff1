import type { EngineClient } from '../../engine/client.js'
import { helperProgramFor } from '../../engine/helperProcess.js'
import { TransshipError } from '../../errors.js'
import type { Artifact } from '../../manifest/schema.js'
import { defineStage } from '../../pipeline/stage.js'
import { unpackInto } from '../../precopy/treeSinks.js'
import { type RoundResult, type TreeEnd, TreeSource } from '../../precopy/treeSource.js'
import { requireSource } from '../require.js'
import { roundContext } from '../volumeTrees.js'
import { excludedPaths, LAYER_ARTIFACT, LAYER_LABEL, upperDirOf } from './backupLayer.js'
import { containerChanges, countChanges } from './containerChanges.js'
import { ExcludedPaths } from './layerPaths.js'
import { neverStarted } from './restoreLayer.js'

/** Options of {@link precopyLayer}. */
export interface PrecopyLayerOptions {
  /** The source engine; the container may still run. */
  readonly source: EngineClient
  /** The destination engine, where {@link createTarget} made the target. */
  readonly destination: EngineClient
  /** Find what changed by content hash rather than ctime (see {@link precopyVolumes}). */
  readonly checksum?: boolean
}

/**
 * Stage `precopy-layer`, the direct route's pre-copy of the container layer: while the
 * source still runs, copies its overlay2 writable layer (its UpperDir: what it added and
 * changed, deletions as overlayfs whiteouts, re-created directories with their opaque
 * mark) straight into the UpperDir of the target {@link createTarget} made, which never
 * started, through transship's helper program; then, like {@link precopyVolumes}, what
 * changed during the last round while that pays. {@link copyLayer} then sends only what
 * changed since, once the source is frozen. Mount points and the engine's files
 * (`/etc/hosts`, …) are left out, as {@link backupLayer} leaves them.
 *
 * It needs overlay2 on both engines and the helper program for both, and engines that run
 * its containers; otherwise it changes nothing (with a warning when an engine refused the
 * helper), and {@link copyLayer} copies the whole layer after the freeze. The helper
 * containers get `SYS_ADMIN`, which reading and writing overlayfs' `trusted.*` attributes
 * needs.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine: a, container: 'web' }),
 *   createTarget({ engine: b }),
 *   precopyLayer({ source: a, destination: b }),
 *   stopSource({ engine: a }),
 *   copyLayer({ source: a, destination: b }),
 *   startTarget({ engine: b }),
 * )
 * ```
 *
 * @param options - source and destination engines.
 * @return the stage operator.
 * @throws TransshipError `PIPELINE_ORDER` (no target), `TARGET_STARTED`, `UNSAFE_ARCHIVE`,
 *   `HELPER_FAILED`.
 */
export function precopyLayer(options: PrecopyLayerOptions) {
  return defineStage('precopy-layer', async (state, context) => {
    const { source: from, destination: to } = options
    const source = requireSource(state, 'precopy-layer')
    if (!state.target) {
      throw new TransshipError(
        'PIPELINE_ORDER',
        'precopy-layer needs the target: put createTarget before it',
      )
    }
    const [inspect, target] = await Promise.all([
      from.inspectContainer(source.id),
      neverStarted(to, state.target),
    ])
    const upperDirs = [upperDirOf(inspect), upperDirOf(target)]
    const programs = await Promise.all([helperProgramFor(from), helperProgramFor(to)])
    const [fromDir, toDir] = upperDirs
    const [fromProgram, toProgram] = programs
    if (!fromDir || !toDir || !fromProgram || !toProgram) return state
    const excluded = excludedPaths(state, inspect)
    const changes = await containerChanges(
      from,
      source.id,
      new ExcludedPaths(excluded),
      context.signal,
    )
    // Nothing written on the image (yet): copyLayer looks again after the freeze.
    if (changes.length === 0) return state
    const exclude = excluded.map((path) => path.replace(/^\/+/, ''))
    const upper = (
      engine: EngineClient,
      program: string,
      image: string,
      dir: string,
      readOnly: boolean,
    ): TreeEnd => ({
      engine,
      program,
      image,
      mount: (path) => ({ Type: 'bind', Source: dir, Target: path, ReadOnly: readOnly }),
      describe: `the layer of container ${readOnly ? source.name : state.target?.name} on ${engine.url}`,
      exclude,
      xattrs: true,
    })
    const tree = new TreeSource(upper(from, fromProgram, source.imageId, fromDir, true), {
      checksum: options.checksum ?? false,
    })
    const destination = upper(to, toProgram, target.Image, toDir, false)
    const rounds = await tree.precopyIfHelperRuns(
      unpackInto(destination),
      (round) =>
        roundContext(
          round === 0 ? LAYER_LABEL : `${LAYER_LABEL}, changes (round ${round})`,
          context,
        ),
      context.warn,
    )
    if (!rounds) return state
    return {
      ...state,
      // The changes as `docker diff` listed them before the copy began.
      layer: { method: 'overlay2', artifact: LAYER_ARTIFACT, changes: countChanges(changes) },
      artifacts: [...state.artifacts, ...rounds.flatMap(layerRoundArtifact)],
      precopiedLayer: { source: tree, destination },
    }
  })
}

/**
 * The artifact a round of the layer's copy adds to the state (for the summary's bytes):
 * `layer.tar`, then `layer.delta-<round>.tar`, in `tree` encoding.
 *
 * @param result - what the round sent.
 * @return the artifact, or none when nothing was sent.
 */
export function layerRoundArtifact({ round, digest }: RoundResult): Artifact[] {
  if (!digest) return []
  const key = round === 0 ? LAYER_ARTIFACT : LAYER_ARTIFACT.replace(/\.tar$/, `.delta-${round}.tar`)
  return [{ key, kind: 'layer', encoding: 'tree', ...digest }]
}
