import { pipeline } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { tarGuard } from '../../archive/tarGuard.js'
import { verifyingStream } from '../../archive/verifyingStream.js'
import { type EngineClient, shortId } from '../../engine/client.js'
import { pickHelperImage, withHelperContainer } from '../../engine/helperContainer.js'
import { putArchive } from '../../engine/putArchive.js'
import { messageOf, TransshipError } from '../../errors.js'
import type { Artifact, CheckpointRecord, SourceContainer } from '../../manifest/schema.js'
import { downtimeOf } from '../../pipeline/downtime.js'
import { meter } from '../../pipeline/meter.js'
import { defineStage, type StageContext } from '../../pipeline/stage.js'
import type { Freeze, MigrationState, TargetRecord } from '../../pipeline/state.js'
import type { Transport } from '../../transport/contract.js'
import { requireSource } from '../require.js'
import { startTargetPlainly } from '../startTarget.js'
import {
  CHECKPOINTS_MOUNT,
  checkpointsDirOf,
  checkpointsMount,
  NO_CHECKPOINT_FLAG,
} from './checkpointFiles.js'
import { explainCriuFailure, readCriuLog, TCP_ESTABLISHED_HELP } from './criuLog.js'
import { startFromCheckpoint, takesCheckpointDir } from './startFromCheckpoint.js'

/** Options of {@link restoreCheckpoint}. */
export interface RestoreCheckpointOptions {
  /** The destination engine. */
  readonly engine: EngineClient
  /** Where the backup is. */
  readonly transport: Transport
  /**
   * How long the target must keep running after its start to count as restored, in
   * milliseconds (default 500): a restored process that dies at once still starts.
   */
  readonly settleMs?: number
}

const DEFAULT_SETTLE_MS = 500

/**
 * Stage `restore-checkpoint`: once volumes, layer and configuration are in place (the
 * target created by {@link createTarget}, not started), puts the checkpoint where the
 * destination engine expects it for the target (`<DockerRootDir>/containers/<id>/
 * checkpoints/<name>`, written through a created helper container, checked as it streams:
 * size and sha256 against the manifest, every entry against leaving that directory), then
 * starts the target from it, so that its processes continue where they were frozen, and
 * checks that it keeps running. The state then holds the downtime: from the freeze to the
 * target running, with its parts.
 *
 * Docker 20.10 refuses a custom checkpoint directory on start, so the checkpoint goes into
 * the container's own; newer engines are given it as `checkpoint-dir` too. A start that
 * fails with "content … already exists" is repeated once.
 *
 * A backup without a checkpoint (cold, or of a stopped source) gives what {@link startTarget}
 * does: a plain start if the source ran, else a created target. On failure, the error says
 * what CRIU reported; `rollbackOnFailure` then removes the target and starts the source
 * again from its checkpoint.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   readManifest({ transport, id }),
 *   restoreVolumes({ engine, transport }),
 *   createTarget({ engine }),
 *   restoreCheckpoint({ engine, transport }),
 * )
 * ```
 *
 * @param options - engine, transport.
 * @return the stage operator.
 * @throws TransshipError `CHECKPOINT_UNAVAILABLE` (destination not in experimental mode),
 *   `INTEGRITY`, `UNSAFE_ARCHIVE`, `RESTORE_FAILED`, `TARGET_NOT_RUNNING`.
 */
export function restoreCheckpoint(options: RestoreCheckpointOptions) {
  return defineStage('restore-checkpoint', async (state, context) => {
    const started = Date.now()
    const { engine } = options
    const source = requireSource(state, 'restore-checkpoint')
    const { target, checkpoint } = state
    if (!target) {
      throw new TransshipError(
        'PIPELINE_ORDER',
        'restore-checkpoint needs a target: put createTarget before it',
      )
    }
    if (!checkpoint) return startTargetPlainly(engine, state, target, context.warn)
    const artifact = state.artifacts.find(
      (a) => a.key === checkpoint.artifact && a.kind === 'checkpoint',
    )
    if (!artifact) {
      throw new TransshipError(
        'MANIFEST_INVALID',
        `the checkpoint names artifact ${checkpoint.artifact}, which the backup does not list`,
      )
    }
    const [info, version] = await Promise.all([engine.info(), engine.version()])
    if (!info.ExperimentalBuild) {
      throw new TransshipError(
        'CHECKPOINT_UNAVAILABLE',
        `cannot start ${target.name} from its checkpoint: engine ${engine.url} is not in ` +
          'experimental mode, which Docker’s checkpoint API needs (see `transship doctor`)',
      )
    }
    const directory = checkpointsDirOf(info, target.id)
    const helperImage = await pickHelperImage(engine, [source.imageId, source.image])
    await putCheckpoint(options.transport, engine, helperImage, source, checkpoint, artifact, {
      directory,
      target,
      context,
    })
    try {
      await startFromCheckpoint(engine, target.id, checkpoint.name, {
        checkpointDir: directory,
        passCheckpointDir: takesCheckpointDir(version.ApiVersion),
        helperImage,
      })
    } catch (error) {
      throw await restoreFailure(engine, helperImage, target, checkpoint, error, context.signal)
    }
    const inspect = await engine.inspectContainer(target.id)
    const running = Date.now()
    if (!inspect.State.Running) throw notRunning(engine, target, inspect.State)
    await sleep(options.settleMs ?? DEFAULT_SETTLE_MS, undefined, { signal: context.signal })
    const after = await engine.inspectContainer(target.id)
    if (!after.State.Running) throw notRunning(engine, target, after.State)
    return { ...state, downtime: downtimeOf(freezeOf(state, checkpoint), started, running) }
  })
}

async function putCheckpoint(
  transport: Transport,
  engine: EngineClient,
  image: string,
  source: SourceContainer & { readonly backupId: string },
  checkpoint: CheckpointRecord,
  artifact: Artifact,
  where: { directory: string; target: TargetRecord; context: StageContext },
): Promise<void> {
  const { signal, progress } = where.context
  const key = `${source.backupId}/${artifact.key}`
  await withHelperContainer(
    engine,
    {
      image,
      purpose: `put checkpoint ${checkpoint.name} for ${shortId(where.target.id)}`,
      mounts: [checkpointsMount(where.directory, false)],
      signal,
    },
    async (helper) => {
      const body = pipeline(
        await transport.get(key, { signal }),
        meter((bytes) => progress('checkpoint', bytes, artifact.size)),
        verifyingStream({ sha256: artifact.sha256, size: artifact.size }, `artifact ${key}`),
        tarGuard({ root: checkpoint.name, describe: `checkpoint in backup ${source.backupId}` }),
        () => {},
      )
      await putArchive(engine, helper, body, {
        path: CHECKPOINTS_MOUNT,
        action: `put checkpoint ${checkpoint.name} for ${shortId(where.target.id)}`,
        signal,
      })
    },
  )
}

async function restoreFailure(
  engine: EngineClient,
  image: string,
  target: TargetRecord,
  checkpoint: CheckpointRecord,
  error: unknown,
  signal: AbortSignal,
): Promise<unknown> {
  if (signal.aborted) return error
  const message = messageOf(error)
  const { logPath } = explainCriuFailure(message, undefined)
  const log = logPath ? await readCriuLog(engine, image, logPath, signal) : undefined
  const diagnosis = explainCriuFailure(message, log)
  const parts = [
    `could not start ${target.name} on ${engine.url} from checkpoint ${checkpoint.name}: ${diagnosis.summary}.`,
  ]
  if (diagnosis.cause === 'other') {
    parts.push(
      'CRIU restores only what it finds as it was: the files the processes held open (in ' +
        'volumes, the container layer or the image) with the same paths and sizes, the ' +
        'same mounts, and the kernel features it saved.',
    )
  }
  if (checkpoint.tcpEstablished) {
    parts.push(
      'The checkpoint holds established TCP connections: the destination’s CRIU must be ' +
        `allowed them too. ${TCP_ESTABLISHED_HELP}`,
    )
  }
  parts.push(
    `The checkpoint was taken on Docker ${checkpoint.engine.serverVersion}, kernel ` +
      `${checkpoint.engine.kernelVersion}. Check CRIU on the destination with ` +
      `\`transship doctor --host ${engine.url}\`, or migrate with ${NO_CHECKPOINT_FLAG}.`,
  )
  return new TransshipError('RESTORE_FAILED', parts.join(' '), { cause: error })
}

function notRunning(
  engine: EngineClient,
  target: TargetRecord,
  state: { Status: string; ExitCode: number; Error?: string },
): TransshipError {
  return new TransshipError(
    'TARGET_NOT_RUNNING',
    `container ${target.name} on ${engine.url} is not running after its start (status ${state.Status}, exit code ${state.ExitCode}${state.Error ? `, ${state.Error}` : ''})`,
  )
}

/** The freeze as this process saw it, or, in a restore on its own, as the backup records it. */
function freezeOf(state: MigrationState, checkpoint: CheckpointRecord): Freeze {
  return state.freeze ?? { at: Date.parse(checkpoint.frozenAt), durationMs: checkpoint.durationMs }
}
