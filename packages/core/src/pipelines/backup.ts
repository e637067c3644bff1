import { identity, type MonoTypeOperatorFunction, type Observable, throwError } from 'rxjs'
import type { EngineClient } from '../engine/client.js'
import { concurrently } from '../pipeline/concurrently.js'
import type { MigrationEvent } from '../pipeline/events.js'
import { rollbackOnFailure } from '../pipeline/rollbackOnFailure.js'
import { type RunOptions, rollbackOptions, runOptions } from '../pipeline/runOptions.js'
import {
  type CompressionOptions,
  type SealingOptions,
  stagedStartOf,
  stagingOf,
} from '../pipeline/staging.js'
import { startMigration } from '../pipeline/startMigration.js'
import { summarize } from '../pipeline/summarize.js'
import { backupCheckpoint } from '../stages/checkpoint/backupCheckpoint.js'
import { checkpointSource } from '../stages/checkpoint/checkpointSource.js'
import { resumeFromCheckpoint } from '../stages/checkpoint/resumeSource.js'
import { preFreezeHook } from '../stages/hooks.js'
import { backupImage } from '../stages/image/backupImage.js'
import { inspectSource } from '../stages/inspectSource.js'
import { backupLayer } from '../stages/layer/backupLayer.js'
import { lockSource } from '../stages/lockSource.js'
import { precopyVolumes } from '../stages/precopyVolumes.js'
import { stopSource } from '../stages/stopSource.js'
import { syncVolumes } from '../stages/syncVolumes.js'
import { writeManifest } from '../stages/writeManifest.js'
import type { Transport } from '../transport/contract.js'
import type { PhaseSubject } from './migrationPhases.js'

/** Options of {@link backup}. */
export interface BackupOptions extends RunOptions, SealingOptions, CompressionOptions {
  /** The source engine. */
  readonly source: EngineClient
  /** The container: name or id. */
  readonly container: string
  /** Where the backup goes. */
  readonly transport: Transport
  /** Volumes to copy, by name or mount path; all by default. */
  readonly volumes?: readonly string[]
  /** `false` (`--no-image`): the image does not travel; the destination must hold it. */
  readonly includeImage?: boolean
  /**
   * Checkpoint the running processes with CRIU (default true), so that a restore continues
   * them; `false` stops the container instead (cold).
   */
  readonly checkpoint?: boolean
  /**
   * Find what changed after the pre-copy by each file's content hash rather than its
   * ctime (every file is read once more; default false).
   */
  readonly checksum?: boolean
  /** Start the source again once the copy is taken (it is left stopped by default). */
  readonly leaveRunning?: boolean
  /** Run in the source before the freeze; by default its label `transship.pre-freeze`. */
  readonly preFreeze?: string
}

/**
 * The backup half on its own (`transship backup`): stores the image (unless
 * `includeImage: false`) and the volumes' content while the source runs, checkpoints the
 * source (or, cold, stops it), stores the checkpoint, what changed in the volumes since
 * (their deltas) and its layer, and then the manifest. The source stays stopped,
 * with restart policy `no`, unless `leaveRunning` (then it continues from its checkpoint);
 * on failure it is put back as it was. The summary names the backup's URL.
 *
 * ## Example
 * ```ts
 * backup({ source, container: 'web', transport }).subscribe((event) => {
 *   if (event.type === 'summary') console.log(event.backupUrl)
 * })
 * ```
 *
 * @param options - source, container, transport, choices.
 * @return the pipeline's events.
 * @throws TransshipError `KEY_REQUIRED` (as the observable's error) without `secret`,
 *   unless `encrypt: false`.
 */
export function backup(options: BackupOptions): Observable<MigrationEvent> {
  let transport: Transport
  try {
    transport = stagingOf(options.transport, options, 'backup', false)
  } catch (error) {
    return throwError(() => error)
  }
  const phases = backupPhases({ ...options, transport }, { container: options.container })
  return startMigration({
    ...runOptions(options),
    ...stagedStartOf(options.transport, options),
  }).pipe(
    phases.preflight,
    phases.prepare,
    phases.freeze,
    phases.transfer,
    phases.resume,
    rollbackOnFailure(rollbackOptions(options)),
    summarize(),
  )
}

/** A backup's choices, for any of its containers (its `transport` already sealed and compressed). */
export type BackupPhaseOptions = Omit<
  BackupOptions,
  'container' | keyof RunOptions | keyof SealingOptions | keyof CompressionOptions
>

type Phase = MonoTypeOperatorFunction<MigrationEvent>

/**
 * One container's backup in the order it happens, each phase an operator; a group runs
 * each phase on every member before the next (see `migrationPhases`).
 */
export interface BackupPhases {
  /** The source read and locked; nothing changed. */
  readonly preflight: Phase
  /** While the source runs: the image (unless excluded), the volumes' content. */
  readonly prepare: Phase
  /** The pre-freeze hook, then the checkpoint (or the stop). */
  readonly freeze: Phase
  /** Frozen: the checkpoint, what changed in the volumes and the layer, at the same time; then the manifest. */
  readonly transfer: Phase
  /** With `leaveRunning`, the source continues from its checkpoint. */
  readonly resume: Phase
}

/**
 * The phases of a container's backup.
 *
 * @param options - source, staging and the user's choices.
 * @param subject - the container.
 * @return its phases.
 */
export function backupPhases(options: BackupPhaseOptions, subject: PhaseSubject): BackupPhases {
  const { source: engine, transport } = options
  const checkpoint = options.checkpoint ?? true
  const volumes = { source: engine, transport, checksum: options.checksum ?? false }
  return {
    preflight: (events) =>
      events.pipe(
        inspectSource({
          engine,
          container: subject.container,
          ...(options.volumes ? { volumes: options.volumes } : {}),
          ...(subject.movingWith ? { movingWith: subject.movingWith } : {}),
        }),
        lockSource({ engine }),
      ),
    prepare: (events) =>
      events.pipe(
        // The destination is unknown: the whole image travels, unless excluded.
        backupImage({ engine, transport, include: options.includeImage ?? true }),
        precopyVolumes(volumes),
      ),
    freeze: (events) =>
      events.pipe(
        preFreezeHook({ engine, command: options.preFreeze }),
        checkpoint ? checkpointSource({ engine }) : stopSource({ engine }),
      ),
    transfer: (events) =>
      events.pipe(
        concurrently(
          syncVolumes(volumes),
          backupLayer({ engine, transport }),
          checkpoint ? backupCheckpoint({ engine, transport }) : identity,
        ),
        writeManifest({ transport }),
      ),
    resume: options.leaveRunning ? resumeFromCheckpoint({ engine }) : identity,
  }
}
