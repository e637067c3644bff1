import type { EngineClient } from '../engine/client.js'
import { TransshipError } from '../errors.js'
import { defineStage } from '../pipeline/stage.js'
import { requireSource } from '../stages/require.js'
import { describeDifference } from './describeDifference.js'
import { verifyContainers } from './verifyContainers.js'

/** Options of {@link verifyTarget}. */
export interface VerifyTargetOptions {
  /** The source's engine; the source is frozen (stopped or checkpointed) by now. */
  readonly source: EngineClient
  /** The engine the target was created on. */
  readonly destination: EngineClient
}

/** Differences named in the stage's error; the rest are counted. */
const NAMED = 10

/**
 * Stage `verify-target`: compares the frozen source with the target, once everything is
 * copied and before the target starts: every copied volume (matched by mount point) and
 * the container layer, path by path (content hash, type, mode, owner, mtime, symlink
 * targets, hard links; see {@link verifyContainers}). A difference fails the stage, naming
 * the paths and what differs, so that the pipeline's rollback runs. A layer that cannot be
 * compared (a storage driver other than overlay2) is a warning. Where `precopyLayer` did not
 * copy the layer with the helper program, it went as a Docker image layer through the
 * engine's archive API, which keeps mtimes to the second and has no entry for the layer's
 * root: only that is compared then.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine: a, container: 'web' }),
 *   precopyVolumes({ source: a, destination: b }),
 *   createTarget({ engine: b }),
 *   stopSource({ engine: a }),
 *   syncVolumes({ source: a, destination: b }),
 *   copyLayer({ source: a, destination: b }),
 *   verifyTarget({ source: a, destination: b }),
 *   startTarget({ engine: b }),
 *   rollbackOnFailure(),
 * )
 * ```
 *
 * @param options - source and destination engines.
 * @return the stage operator.
 * @throws TransshipError `VERIFY_FAILED` on a difference; `PIPELINE_ORDER` without a
 *   source or target; `SOURCE_RUNNING` when the source was not frozen; the helpers' errors.
 */
export function verifyTarget(options: VerifyTargetOptions) {
  return defineStage('verify-target', async (state, context) => {
    const source = requireSource(state, 'verify-target')
    if (!state.target) {
      throw new TransshipError(
        'PIPELINE_ORDER',
        'verify-target needs the target: put createTarget before it',
      )
    }
    const found = await verifyContainers({
      source: options.source,
      destination: options.destination,
      container: source.id,
      target: state.target.id,
      // Volumes not selected were made empty at the destination: nothing to compare.
      mountPoints: state.volumes.filter((v) => v.artifact !== undefined).map((v) => v.destination),
      // A layer the helper program did not pre-copy came as an image layer, through the
      // engine's archive API.
      layerCopiedAs: state.precopiedLayer ? 'tree' : 'image-layer',
      signal: context.signal,
    })
    for (const tree of found.trees) {
      if (tree.unverifiable)
        context.warn(`the container layer was not verified: ${tree.unverifiable}`)
    }
    const differences = [...found.differences, ...found.changedByTarget]
    if (differences.length === 0) return state
    const named = differences.slice(0, NAMED).map(describeDifference)
    const more = differences.length > NAMED ? `; and ${differences.length - NAMED} more` : ''
    throw new TransshipError(
      'VERIFY_FAILED',
      `target ${state.target.name} on ${options.destination.url} differs from source ${source.name} on ${options.source.url} in ${differences.length} path(s): ${named.join('; ')}${more}`,
    )
  })
}
