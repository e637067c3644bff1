import { pipeline, type Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { tarGuard } from '../../archive/tarGuard.js'
import { verifyingStream } from '../../archive/verifyingStream.js'
import { type EngineClient, shortId } from '../../engine/client.js'
import { pickHelperImage, withHelperContainer } from '../../engine/helperContainer.js'
import { EXPERIMENTAL_OFF_HELP, restoreDefectOf } from '../../engine/hostLimits.js'
import { putArchive } from '../../engine/putArchive.js'
import { TransshipError } from '../../errors.js'
import type { CheckpointRecord, SourceContainer } from '../../manifest/schema.js'
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
import { diagnoseCriuFailure, TCP_ESTABLISHED_HELP } from './criuLog.js'
import { startFromCheckpoint } from './startFromCheckpoint.js'

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
  /**
   * Record in the run's ledger, once the target runs, that nothing is to be rolled back
   * (default true). `false` leaves that to a later stage (`commitTarget`), so that a check
   * between the two (a post-restore hook) can still roll back.
   */
  readonly commit?: boolean
}

/** How long a restored target must keep running to count as restored, by default. */
export const DEFAULT_SETTLE_MS = 500

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
    const { engine, transport } = options
    return startTargetFromCheckpoint(engine, state, context, {
      stage: 'restore-checkpoint',
      started,
      commit: options.commit ?? true,
      ...(options.settleMs === undefined ? {} : { settleMs: options.settleMs }),
      put: async ({ source, checkpoint, ...place }) => {
        const artifact = state.artifacts.find(
          (a) => a.key === checkpoint.artifact && a.kind === 'checkpoint',
        )
        if (!artifact) {
          throw new TransshipError(
            'MANIFEST_INVALID',
            `the checkpoint names artifact ${checkpoint.artifact}, which the backup does not list`,
          )
        }
        const { signal, progress } = context
        const key = `${source.backupId}/${artifact.key}`
        const body = pipeline(
          await transport.get(key, { signal }),
          meter((bytes) => progress('checkpoint', bytes, artifact.size)),
          verifyingStream({ sha256: artifact.sha256, size: artifact.size }, `artifact ${key}`),
          () => {},
        )
        await putCheckpointFiles(engine, body, {
          ...place,
          checkpoint: checkpoint.name,
          describe: `checkpoint in backup ${source.backupId}`,
          signal,
        })
      },
    })
  })
}

/** Where {@link putCheckpointFiles} puts a checkpoint. */
export interface CheckpointPlace {
  /** The target's checkpoints directory on the destination's host ({@link checkpointsDirOf}). */
  readonly directory: string
  /** An image the destination holds, for the helper container. */
  readonly helperImage: string
  readonly target: TargetRecord
}

/**
 * The restore half of the checkpoint's journey: writes a checkpoint's tar stream (its
 * directory, named as the checkpoint) into the target's checkpoints directory, through a
 * created, never-started helper container that bind-mounts it; every entry is checked
 * against leaving that directory. {@link restoreCheckpoint} feeds it from the transport,
 * `copyCheckpoint` from the source engine.
 *
 * @param engine - the destination engine.
 * @param body - the checkpoint's tar stream, checked upstream; destroyed when done.
 * @param where - the place, the checkpoint's name, what it is (for messages), the signal.
 * @throws TransshipError `UNSAFE_ARCHIVE`; the stream's error.
 */
export async function putCheckpointFiles(
  engine: EngineClient,
  body: Readable,
  where: CheckpointPlace & { checkpoint: string; describe: string; signal: AbortSignal },
): Promise<void> {
  const { signal, checkpoint, target } = where
  try {
    await withHelperContainer(
      engine,
      {
        image: where.helperImage,
        purpose: `put checkpoint ${checkpoint} for ${shortId(target.id)}`,
        mounts: [checkpointsMount(where.directory, false)],
        signal,
      },
      async (helper) => {
        const guarded = pipeline(
          body,
          tarGuard({ root: checkpoint, describe: where.describe }),
          () => {},
        )
        await putArchive(engine, helper, guarded, {
          path: CHECKPOINTS_MOUNT,
          action: `put checkpoint ${checkpoint} for ${shortId(target.id)}`,
          signal,
        })
      },
    )
  } finally {
    body.destroy()
  }
}

/** How {@link startTargetFromCheckpoint} is run. */
export interface StartTargetHow {
  /** The stage, for messages. */
  readonly stage: string
  /** When the restore began (`Date.now()`): the downtime's restore part starts there. */
  readonly started: number
  /** How long the target must keep running after its start (default 500 ms). */
  readonly settleMs?: number
  /** Whether to commit the ledger once the target runs. */
  readonly commit: boolean
  /** Puts the checkpoint in place first, when it is not there yet. */
  readonly put?: (
    place: CheckpointPlace & {
      source: SourceContainer & { readonly backupId: string }
      checkpoint: CheckpointRecord
    },
  ) => Promise<void>
}

/**
 * Starts the target from the state's checkpoint, after `how.put` put it in place (or with
 * it there already), as {@link restoreCheckpoint} and `resumeTarget` describe: checks
 * that the target keeps running, explains CRIU's failures, and adds the downtime to the
 * state. Without a checkpoint, starts the target as {@link startTarget} does.
 *
 * @param engine - the destination engine.
 * @param state - the migration state, with the target.
 * @param context - the stage's context.
 * @param how - the stage, when the restore began, the settle time, the put.
 * @return the state, with the downtime.
 * @throws TransshipError `PIPELINE_ORDER`, `CHECKPOINT_UNAVAILABLE`, `RESTORE_FAILED`,
 *   `TARGET_NOT_RUNNING`; what `how.put` throws.
 */
export async function startTargetFromCheckpoint(
  engine: EngineClient,
  state: MigrationState,
  context: StageContext,
  how: StartTargetHow,
): Promise<MigrationState> {
  const source = requireSource(state, how.stage)
  const { target, checkpoint } = state
  if (!target) {
    throw new TransshipError(
      'PIPELINE_ORDER',
      `${how.stage} needs a target: put createTarget before it`,
    )
  }
  if (!checkpoint) {
    return startTargetPlainly(engine, state, target, { warn: context.warn, commit: how.commit })
  }
  const [info, version] = await Promise.all([engine.info(), engine.version()])
  if (!info.ExperimentalBuild) {
    throw new TransshipError(
      'CHECKPOINT_UNAVAILABLE',
      `cannot start ${target.name} from its checkpoint: engine ${engine.url} is not in ` +
        `experimental mode (see \`transship doctor\`). ${EXPERIMENTAL_OFF_HELP}`,
    )
  }
  const directory = checkpointsDirOf(info, target.id)
  const helperImage = await pickHelperImage(engine, [source.imageId, source.image])
  await how.put?.({ directory, helperImage, target, source, checkpoint })
  try {
    await startFromCheckpoint(engine, target.id, checkpoint.name, {
      checkpointDir: directory,
      helperImage,
    })
  } catch (error) {
    throw await restoreFailure(engine, helperImage, target, checkpoint, error, {
      serverVersion: version.Version,
      networkMode: networkModeOf(source),
      signal: context.signal,
    })
  }
  const inspect = await engine.inspectContainer(target.id)
  const running = Date.now()
  if (!inspect.State.Running) throw notRunning(engine, target, inspect.State)
  await sleep(how.settleMs ?? DEFAULT_SETTLE_MS, undefined, { signal: context.signal })
  const after = await engine.inspectContainer(target.id)
  if (!after.State.Running) throw notRunning(engine, target, after.State)
  // The target runs: from here on the migration is finished, never rolled back.
  if (how.commit) await state.ledger.commit()
  return { ...state, downtime: downtimeOf(freezeOf(state, checkpoint), how.started, running) }
}

async function restoreFailure(
  engine: EngineClient,
  image: string,
  target: TargetRecord,
  checkpoint: CheckpointRecord,
  error: unknown,
  how: { serverVersion: string; networkMode: string; signal: AbortSignal },
): Promise<unknown> {
  if (how.signal.aborted) return error
  const diagnosis = await diagnoseCriuFailure(engine, image, error, how.signal)
  const parts = [
    `could not start ${target.name} on ${engine.url} from checkpoint ${checkpoint.name}: ${diagnosis.summary}.`,
  ]
  const defect = restoreDefectOf(how.serverVersion)
  if (defect?.affects(how.networkMode)) parts.push(defect.explanation)
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

/** The container's network mode (`default` when unset), as the restore defects ask. */
function networkModeOf(source: SourceContainer): string {
  const mode = source.hostConfig.NetworkMode
  return typeof mode === 'string' && mode !== '' ? mode : 'default'
}

/**
 * The error of a target that stopped running after its start.
 *
 * @param engine - the destination engine.
 * @param target - the target.
 * @param state - its inspected state.
 * @return the error, `TARGET_NOT_RUNNING`.
 */
export function notRunning(
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
  return (
    state.freeze ?? {
      by: 'checkpoint',
      at: Date.parse(checkpoint.frozenAt),
      durationMs: checkpoint.durationMs,
    }
  )
}
