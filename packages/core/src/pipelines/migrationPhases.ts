import { identity, type MonoTypeOperatorFunction } from 'rxjs'
import { concurrently } from '../pipeline/concurrently.js'
import type { MigrationEvent } from '../pipeline/events.js'
import type { RunOptions } from '../pipeline/runOptions.js'
import type { CompressionOptions, SealingOptions } from '../pipeline/staging.js'
import { checkDestination } from '../stages/checkDestination.js'
import { backupCheckpoint } from '../stages/checkpoint/backupCheckpoint.js'
import { checkpointSource } from '../stages/checkpoint/checkpointSource.js'
import { copyCheckpoint } from '../stages/checkpoint/copyCheckpoint.js'
import { removeSourceCheckpoint } from '../stages/checkpoint/removeSourceCheckpoint.js'
import { restoreCheckpoint } from '../stages/checkpoint/restoreCheckpoint.js'
import { resumeTarget } from '../stages/checkpoint/resumeTarget.js'
import { createTarget } from '../stages/createTarget.js'
import { removeSource } from '../stages/finishSource.js'
import { postRestoreHook, preFreezeHook } from '../stages/hooks.js'
import { backupImage } from '../stages/image/backupImage.js'
import { copyImage } from '../stages/image/copyImage.js'
import { restoreImage } from '../stages/image/restoreImage.js'
import { inspectSource } from '../stages/inspectSource.js'
import { backupLayer } from '../stages/layer/backupLayer.js'
import { copyLayer } from '../stages/layer/copyLayer.js'
import { precopyLayer } from '../stages/layer/precopyLayer.js'
import { restoreLayer } from '../stages/layer/restoreLayer.js'
import { lockSource } from '../stages/lockSource.js'
import { precopyVolumes } from '../stages/precopyVolumes.js'
import { removeBackup } from '../stages/removeBackup.js'
import { startTarget } from '../stages/startTarget.js'
import { stopSource } from '../stages/stopSource.js'
import { syncVolumes } from '../stages/syncVolumes.js'
import { writeManifest } from '../stages/writeManifest.js'
import type { Transport } from '../transport/contract.js'
import { verifyTarget } from '../verify/verifyTarget.js'
import type { MigrateOptions } from './migrate.js'

/**
 * A migration's choices, for any of its containers (its `transport` already sealed and
 * compressed as the run chose).
 */
export type PhaseOptions = Omit<
  MigrateOptions,
  'container' | keyof RunOptions | keyof SealingOptions | keyof CompressionOptions
> & {
  /**
   * How long the target must keep running after its start (default 500 ms); a group
   * starts each with 0 and waits once for all (`settleTargets`).
   */
  readonly settleMs?: number
}

/** The container a phase set is for. */
export interface PhaseSubject {
  /** Name or id. */
  readonly container: string
  /** The ids of the containers that move with it (a group). */
  readonly movingWith?: readonly string[]
  /** In a group: the targets already made, by source id and name (see `TargetInputs`). */
  readonly peers?: Readonly<Record<string, string>>
}

type Phase = MonoTypeOperatorFunction<MigrationEvent>

/**
 * One container's migration in the order it happens, each phase an operator: a migration
 * pipes them in this order (with `commitTarget` between `settle` and `finish`); a group
 * runs each phase on every member before the next phase (`eachMember`), so that all of
 * them are frozen before any target starts.
 */
export interface MigrationPhases {
  /** The source read and locked, the destination checked; nothing changed. */
  readonly preflight: Phase
  /** While the source runs: the image, the volumes' content, the target (not started), its layer. */
  readonly prepare: Phase
  /** The pre-freeze hook, then the checkpoint (or the stop). */
  readonly freeze: Phase
  /** Frozen: what changed in the volumes, the layer, the checkpoint; the manifest; the verification. */
  readonly transfer: Phase
  /** The target started (from the checkpoint), not yet committed. */
  readonly start: Phase
  /** The post-restore hook, which may still roll back. */
  readonly settle: Phase
  /** Once committed: the staged backup, the source's checkpoint and the source removed as asked. */
  readonly finish: Phase
}

/**
 * The phases of a container's migration, straight from engine to engine or, with a
 * `transport`, through staging (see `migrate` for what each route does).
 *
 * @param options - engines, staging and the user's choices.
 * @param subject - the container.
 * @return its phases.
 */
export function migrationPhases(options: PhaseOptions, subject: PhaseSubject): MigrationPhases {
  const { source, destination } = options
  const checkpoint = options.checkpoint ?? true
  const choices = {
    ...(options.onConflict ? { onConflict: options.onConflict } : {}),
    ...(options.name ? { name: options.name } : {}),
    ...(options.onMissingNetwork ? { onMissingNetwork: options.onMissingNetwork } : {}),
    ...(options.changes ? { changes: options.changes } : {}),
  }
  const route = options.transport ? stagedPhases(options, options.transport) : directPhases(options)
  return {
    preflight: (events) =>
      events.pipe(
        inspectSource({
          engine: source,
          container: subject.container,
          ...(options.volumes ? { volumes: options.volumes } : {}),
          ...(subject.movingWith ? { movingWith: subject.movingWith } : {}),
        }),
        lockSource({ engine: source }),
        // One operator holds both engines: the source's grants travel, each named.
        checkDestination({ engine: destination, sendImage: true, hostAccess: 'warn', ...choices }),
      ),
    prepare: (events) =>
      events.pipe(
        route.image,
        precopyVolumes({ ...route.volumes, ...choices }),
        createTarget({
          engine: destination,
          ...choices,
          ...(subject.peers ? { peers: subject.peers } : {}),
        }),
        route.precopyLayer,
      ),
    freeze: (events) =>
      events.pipe(
        preFreezeHook({ engine: source, command: options.hooks?.preFreeze }),
        checkpoint
          ? checkpointSource({ engine: source, destination })
          : stopSource({ engine: source }),
      ),
    transfer: (events) =>
      events.pipe(
        route.transfer,
        options.verify ? verifyTarget({ source, destination }) : identity,
      ),
    start: route.start,
    settle: postRestoreHook({
      engine: destination,
      command: options.hooks?.postRestore,
      keepOnFailure: options.hooks?.keepOnFailure,
    }),
    finish: (events) =>
      events.pipe(
        route.finish,
        checkpoint && !options.keepCheckpoint
          ? removeSourceCheckpoint({ engine: source })
          : identity,
        options.removeSource ? removeSource({ engine: source }) : identity,
      ),
  }
}

/** What differs between the routes. */
interface RoutePhases {
  readonly image: Phase
  readonly volumes: Parameters<typeof precopyVolumes>[0]
  readonly precopyLayer: Phase
  readonly transfer: Phase
  readonly start: Phase
  readonly finish: Phase
}

/**
 * Straight from engine to engine: the layer copied while the source runs; once frozen,
 * the volumes' changes at the same time as the layer's then the checkpoint (the layer may
 * make the target again elsewhere than on overlay2).
 */
function directPhases(options: PhaseOptions): RoutePhases {
  const { source, destination } = options
  const engines = { source, destination }
  const checkpoint = options.checkpoint ?? true
  return {
    image: copyImage(engines),
    volumes: { ...engines, checksum: options.checksum ?? false },
    precopyLayer: precopyLayer({ ...engines, checksum: options.checksum ?? false }),
    transfer: concurrently(
      syncVolumes(engines),
      checkpoint
        ? (events) => events.pipe(copyLayer(engines), copyCheckpoint(engines))
        : copyLayer(engines),
    ),
    start: checkpoint
      ? resumeTarget({ engine: destination, commit: false, ...settleOf(options) })
      : startTarget({ engine: destination, commit: false }),
    finish: identity,
  }
}

/**
 * Through staging: each archive stored, then applied at the destination as soon as it is
 * stored; once frozen, the checkpoint, the volumes' changes and the layer at the same time
 * (the checkpoint applied last, by the start), then the manifest.
 */
function stagedPhases(options: PhaseOptions, transport: Transport): RoutePhases {
  const { source, destination } = options
  const checkpoint = options.checkpoint ?? true
  const route = { source, destination, transport, checksum: options.checksum ?? false }
  return {
    image: (events) =>
      events.pipe(
        backupImage({ engine: source, transport, destination }),
        restoreImage({ engine: destination, transport }),
      ),
    volumes: route,
    precopyLayer: identity,
    transfer: (events) =>
      events.pipe(
        concurrently(
          syncVolumes(route),
          (layer) =>
            layer.pipe(
              backupLayer({ engine: source, transport }),
              restoreLayer({ engine: destination, transport }),
            ),
          checkpoint ? backupCheckpoint({ engine: source, transport }) : identity,
        ),
        writeManifest({ transport }),
      ),
    start: checkpoint
      ? restoreCheckpoint({ engine: destination, transport, commit: false, ...settleOf(options) })
      : startTarget({ engine: destination, commit: false }),
    finish: options.keepBackup ? identity : removeBackup({ transport }),
  }
}

function settleOf(options: PhaseOptions): { settleMs?: number } {
  return options.settleMs === undefined ? {} : { settleMs: options.settleMs }
}
