import createDebug from 'debug'
import { type EngineClient, shortId } from '../../engine/client.js'
import { messageOf, TransshipError } from '../../errors.js'
import type { SourceContainer } from '../../manifest/schema.js'
import { defineStage } from '../../pipeline/stage.js'
import { requireSource } from '../require.js'
import { restoreSource, type SourceToRestore } from '../restoreSource.js'
import { checkpointsDirOf } from './checkpointFiles.js'
import { startFromCheckpoint } from './startFromCheckpoint.js'

const debug = createDebug('transship:checkpoint')

/**
 * Puts a checkpointed source back: its restart policy, and running again, from its
 * checkpoint where there is one (its processes continue where they were frozen), else
 * plainly. The checkpoint is removed once the source runs from it: it is stale by then.
 *
 * @param engine - the source engine.
 * @param source - the source as inspected before anything changed.
 * @param checkpoint - the checkpoint's name.
 * @throws TransshipError `SOURCE_STARTED_PLAINLY` when the source runs again, but with its
 *   processes started afresh (no checkpoint was saved, or starting from it failed), so that
 *   the rollback's report says so; an engine error when it could not be started at all.
 */
export async function resumeSource(
  engine: EngineClient,
  source: SourceToRestore & Pick<SourceContainer, 'imageId'>,
  checkpoint: string,
): Promise<void> {
  await engine.call(`restore the restart policy of ${source.name}`, (docker) =>
    docker.getContainer(source.id).update({ RestartPolicy: source.restartPolicy }),
  )
  if ((await engine.inspectContainer(source.id)).State.Running) return
  let why = `no checkpoint ${checkpoint} of it was saved`
  if (await hasCheckpoint(engine, source.id, checkpoint)) {
    try {
      await startFromCheckpoint(engine, source.id, checkpoint, {
        checkpointDir: checkpointsDirOf(await engine.info(), source.id),
        helperImage: source.imageId,
      })
      await removeCheckpointQuietly(engine, source.id, checkpoint)
      return
    } catch (error) {
      why = `starting it from checkpoint ${checkpoint} failed (${messageOf(error)})`
    }
  }
  await engine.startContainer(source.id)
  throw new TransshipError(
    'SOURCE_STARTED_PLAINLY',
    `${source.name} runs again on ${engine.url}, but started afresh: ${why}; what its processes held only in memory is lost`,
  )
}

/**
 * @return whether the container has a checkpoint of that name in the engine's own
 *   checkpoints directory.
 */
export async function hasCheckpoint(
  engine: EngineClient,
  id: string,
  checkpoint: string,
): Promise<boolean> {
  const listed = await engine.call(`list checkpoints of ${shortId(id)}`, (docker) =>
    docker.getContainer(id).listCheckpoint(),
  )
  // Docker answers `null` when there are none, which dockerode passes on as a Buffer.
  return Array.isArray(listed) && listed.some((entry) => entry.Name === checkpoint)
}

async function removeCheckpointQuietly(
  engine: EngineClient,
  id: string,
  checkpoint: string,
): Promise<void> {
  try {
    await engine.removeCheckpoint(id, checkpoint)
  } catch (error) {
    debug('%s: checkpoint %s left behind: %s', engine.url, checkpoint, messageOf(error))
  }
}

/** Options of {@link resumeFromCheckpoint}. */
export interface ResumeFromCheckpointOptions {
  /** The source engine. */
  readonly engine: EngineClient
}

/**
 * Stage `resume-source`: once the backup is taken, starts the source again from the
 * checkpoint `checkpointSource` took, so that its processes continue where they were
 * frozen (`backup --leave-running` with a checkpoint), with its restart policy back. A
 * state without a checkpoint gets what `restartSource` does: a plain start, if it ran.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine, container: 'web' }),
 *   checkpointSource({ engine }),
 *   backupCheckpoint({ engine, transport }),
 *   backupVolumes({ engine, transport }),
 *   writeManifest({ transport }),
 *   resumeFromCheckpoint({ engine }),
 * )
 * ```
 *
 * @param options - the source engine.
 * @return the stage operator.
 * @throws TransshipError `SOURCE_STARTED_PLAINLY` when the source runs again, but afresh.
 */
export function resumeFromCheckpoint(options: ResumeFromCheckpointOptions) {
  return defineStage('resume-source', async (state) => {
    const source = requireSource(state, 'resume-source')
    const { checkpoint } = state
    if (checkpoint) await resumeSource(options.engine, source, checkpoint.name)
    else await restoreSource(options.engine, source)
    return state
  })
}
