import { pipeline, type Readable } from 'node:stream'
import { hashingStream } from '../../archive/hashingStream.js'
import type { EngineClient } from '../../engine/client.js'
import { pickHelperImage } from '../../engine/helperContainer.js'
import { TransshipError } from '../../errors.js'
import type { Artifact } from '../../manifest/schema.js'
import { meter } from '../../pipeline/meter.js'
import { defineStage } from '../../pipeline/stage.js'
import { requireSource } from '../require.js'
import { readCheckpoint } from './backupCheckpoint.js'
import { checkpointsDirOf } from './checkpointFiles.js'
import { putCheckpointFiles } from './restoreCheckpoint.js'

/** Options of {@link copyCheckpoint}. */
export interface CopyCheckpointOptions {
  /** The engine the checkpointed source is on. */
  readonly source: EngineClient
  /** The engine the target was created on. */
  readonly destination: EngineClient
}

/**
 * Stage `copy-checkpoint`: the copy of {@link backupCheckpoint} and
 * {@link restoreCheckpoint} in one, without a transport. Streams the checkpoint
 * {@link checkpointSource} took (the directory of CRIU's image files, read through a
 * created helper container at the source) straight into the target's checkpoints
 * directory at the destination (written through a created helper container there), every
 * entry checked against leaving that directory, hashed on the way: the state records the
 * artifact (`checkpoint.tar`, size and sha256) as a backup would, and whether the
 * checkpoint holds established TCP connections. {@link resumeTarget} then starts the
 * target from it. A state without a checkpoint passes unchanged.
 *
 * Put it after {@link createTarget}, and after `copyLayer`, which may make the target
 * again (with a new id, and so a new checkpoints directory). What it writes goes with the
 * target: createTarget's undo removes it.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine: a, container: 'web' }),
 *   createTarget({ engine: b }),
 *   checkpointSource({ engine: a, destination: b }),
 *   copyCheckpoint({ source: a, destination: b }),
 *   resumeTarget({ engine: b }),
 * )
 * ```
 *
 * @param options - source and destination engines.
 * @return the stage operator.
 * @throws TransshipError `PIPELINE_ORDER` (no target), `CHECKPOINT_FAILED` (the source's
 *   archive cannot be read), `UNSAFE_ARCHIVE`; the engines' errors.
 */
export function copyCheckpoint(options: CopyCheckpointOptions) {
  return defineStage('copy-checkpoint', async (state, context) => {
    const { source: engine, destination } = options
    const { signal, progress } = context
    const source = requireSource(state, 'copy-checkpoint')
    const { checkpoint, target } = state
    if (!checkpoint) return state
    if (!target) {
      throw new TransshipError(
        'PIPELINE_ORDER',
        'copy-checkpoint needs a target: put createTarget before it',
      )
    }
    const directory = checkpointsDirOf(await destination.info(), target.id)
    const helperImage = await pickHelperImage(destination, [source.imageId, source.image])
    const hashing = hashingStream()
    const { tcpEstablished } = await readCheckpoint(
      engine,
      source,
      checkpoint,
      signal,
      async (archive) => {
        const body = pipeline(
          [archive, meter((bytes) => progress('checkpoint', bytes)), hashing],
          () => {},
        ) as unknown as Readable
        await putCheckpointFiles(destination, body, {
          directory,
          helperImage,
          target,
          checkpoint: checkpoint.name,
          describe: `checkpoint ${checkpoint.name} of ${source.name} on ${engine.url}`,
          signal,
        })
      },
    )
    const { size, sha256 } = await hashing.digest()
    const artifact: Artifact = {
      key: checkpoint.artifact,
      kind: 'checkpoint',
      size,
      sha256,
      encoding: 'tar',
    }
    return {
      ...state,
      artifacts: [...state.artifacts, artifact],
      checkpoint: { ...checkpoint, tcpEstablished },
    }
  })
}
