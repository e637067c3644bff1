import type { EngineClient } from '../../engine/client.js'
import { defineStage } from '../../pipeline/stage.js'
import { startTargetFromCheckpoint } from './restoreCheckpoint.js'

/** Options of {@link resumeTarget}. */
export interface ResumeTargetOptions {
  /** The destination engine. */
  readonly engine: EngineClient
  /**
   * How long the target must keep running after its start to count as restored, in
   * milliseconds (default 500): a restored process that dies at once still starts.
   */
  readonly settleMs?: number
  /**
   * Record in the run's ledger, once the target runs, that nothing is to be rolled back
   * (default true). `false` leaves that to a later stage (`commitTarget`), so that a
   * check between the two (a post-restore hook) can still roll back.
   */
  readonly commit?: boolean
}

/**
 * Stage `resume-target`: starts the target from the checkpoint already in its checkpoints
 * directory (put there by {@link copyCheckpoint}), so that its processes continue where
 * they were frozen, and checks that it keeps running; {@link restoreCheckpoint} without
 * the put. The state then holds the downtime: from the freeze to the target running, the
 * restore part beginning with this stage (the copy before it counts as transfer).
 *
 * A state without a checkpoint (a cold migration, a stopped source) gives what
 * {@link startTarget} does. On failure, the error says what CRIU reported;
 * `rollbackOnFailure` then removes the target and starts the source again from its
 * checkpoint.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine: a, container: 'web' }),
 *   createTarget({ engine: b }),
 *   checkpointSource({ engine: a, destination: b }),
 *   copyLayer({ source: a, destination: b }),
 *   copyCheckpoint({ source: a, destination: b }),
 *   resumeTarget({ engine: b }),
 *   rollbackOnFailure(),
 * )
 * ```
 *
 * @param options - the destination engine, the settle time.
 * @return the stage operator.
 * @throws TransshipError `PIPELINE_ORDER` (no target), `CHECKPOINT_UNAVAILABLE`
 *   (destination not in experimental mode), `RESTORE_FAILED`, `TARGET_NOT_RUNNING`.
 */
export function resumeTarget(options: ResumeTargetOptions) {
  return defineStage('resume-target', (state, context) =>
    startTargetFromCheckpoint(options.engine, state, context, {
      stage: 'resume-target',
      started: Date.now(),
      commit: options.commit ?? true,
      ...(options.settleMs === undefined ? {} : { settleMs: options.settleMs }),
    }),
  )
}
