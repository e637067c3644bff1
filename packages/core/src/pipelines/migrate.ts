import { identity, type MonoTypeOperatorFunction, type Observable, throwError } from 'rxjs'
import type { EngineClient } from '../engine/client.js'
import { TransshipError } from '../errors.js'
import { concurrently } from '../pipeline/concurrently.js'
import type { MigrationEvent } from '../pipeline/events.js'
import { rollbackOnFailure } from '../pipeline/rollbackOnFailure.js'
import { type RunOptions, rollbackOptions, runOptions } from '../pipeline/runOptions.js'
import {
  type CompressionOptions,
  keyRequired,
  type SealingOptions,
  stagedStartOf,
  stagingOf,
} from '../pipeline/staging.js'
import { startMigration } from '../pipeline/startMigration.js'
import { summarize } from '../pipeline/summarize.js'
import { checkDestination } from '../stages/checkDestination.js'
import { backupCheckpoint } from '../stages/checkpoint/backupCheckpoint.js'
import { checkpointSource } from '../stages/checkpoint/checkpointSource.js'
import { copyCheckpoint } from '../stages/checkpoint/copyCheckpoint.js'
import { removeSourceCheckpoint } from '../stages/checkpoint/removeSourceCheckpoint.js'
import { restoreCheckpoint } from '../stages/checkpoint/restoreCheckpoint.js'
import { resumeTarget } from '../stages/checkpoint/resumeTarget.js'
import { createTarget } from '../stages/createTarget.js'
import type { OnConflict } from '../stages/destinationNames.js'
import type { OnMissingNetwork } from '../stages/destinationNetworks.js'
import { removeSource } from '../stages/finishSource.js'
import { commitTarget, type Hooks, postRestoreHook, preFreezeHook } from '../stages/hooks.js'
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
import type { TargetChanges } from '../stages/targetChanges.js'
import { writeManifest } from '../stages/writeManifest.js'
import type { Transport } from '../transport/contract.js'
import { verifyTarget } from '../verify/verifyTarget.js'

/** Options of {@link migrate}. */
export interface MigrateOptions extends RunOptions, SealingOptions, CompressionOptions {
  readonly source: EngineClient
  readonly destination: EngineClient
  /** The container: name or id. */
  readonly container: string
  /**
   * Staging for the archives (`--via`): for hosts that cannot reach each other, or for an
   * audit copy. Without it, each artifact streams straight from the source engine into the
   * destination engine, volumes copied while the source still runs (the default).
   */
  readonly transport?: Transport
  /**
   * Checkpoint the running processes with CRIU, so that they continue at the destination
   * (default true); `false` is the cold migration: stop, copy, start afresh.
   */
  readonly checkpoint?: boolean
  /** Volumes to copy, by name or mount path; all by default. */
  readonly volumes?: readonly string[]
  /** What to do with volume names taken at the destination (default `fail`). */
  readonly onConflict?: OnConflict
  /** The target's name; the source's by default. */
  readonly name?: string
  /** What the target changes from the source: env, ports, network and volume names. */
  readonly changes?: TargetChanges
  /** Commands run in the source before the freeze and in the target once it runs. */
  readonly hooks?: Hooks
  /**
   * Compare the target's volumes and layer with the frozen source's, path by path, before
   * it starts, and roll back on a difference (`verifyTarget`; it adds to the downtime).
   */
  readonly verify?: boolean
  /** A user-defined network missing at the destination: `create` it (default) or `fail`. */
  readonly onMissingNetwork?: OnMissingNetwork
  /**
   * Find what changed after the pre-copy by each file's content hash rather than its
   * ctime (every file is read once more at the source; default false).
   */
  readonly checksum?: boolean
  /** Remove the source container once the target runs (default: keep it, stopped). */
  readonly removeSource?: boolean
  /** Keep the staged backup once the target runs (default: delete it); needs a transport. */
  readonly keepBackup?: boolean
  /**
   * Keep the source's checkpoint on the source engine once the target runs (default:
   * remove it: it holds the processes' memory).
   */
  readonly keepCheckpoint?: boolean
}

/**
 * A whole migration (`transship migrate`): checks the destination before touching
 * anything and sends the image if the destination lacks it (only the layers it lacks),
 * while the source still runs. Then, by default (no transport: the direct route), it makes
 * the volumes at the destination and copies their content straight from engine to engine
 * while the source still runs, creates the target, freezes the source with a CRIU
 * checkpoint (or, cold, stops it), sends only what changed in the volumes since, the
 * container layer and the checkpoint, and starts the target from the checkpoint, so its
 * processes continue. Through a transport (staging), the volumes take the same two
 * phases, each archive stored and then applied at the destination as soon as it is
 * stored; the checkpoint and the layer go through staging after the freeze, the layer
 * applied as soon as it is stored. On any failure the destination's half-made state is
 * removed and the source is put back as it was (from its checkpoint where possible).
 * After success the source stays stopped, restart policy `no`, unless `removeSource`; its
 * checkpoint (the processes' memory) is removed from the source engine unless
 * `keepCheckpoint`.
 *
 * ## Example
 * ```ts
 * migrate({ source: a, destination: b, container: 'web' }).subscribe({
 *   next: (event) => event.type === 'summary' && console.log(event.downtime),
 *   error: (error) => console.error(error.message),
 * })
 * ```
 *
 * @param options - engines, container, transport, choices.
 * @return the pipeline's events.
 * @throws TransshipError `INVALID_OPTION` (as the observable's error) for `keepBackup`
 *   without a transport; `KEY_REQUIRED` for `keepBackup` without `secret`, unless
 *   `encrypt: false` (staging without `keepBackup` is sealed with a fresh key).
 */
export function migrate(options: MigrateOptions): Observable<MigrationEvent> {
  if (options.keepBackup && options.transport && options.encrypt !== false && !options.secret) {
    // A fresh key would make a kept backup that nobody can open.
    return throwError(() => keyRequired('migrate --keep-backup'))
  }
  if (options.compress && !options.transport) {
    return throwError(
      () =>
        new TransshipError(
          'INVALID_OPTION',
          'compressing (--compress) needs staging (--via URL): the direct route streams each artifact from engine to engine and stores nothing',
        ),
    )
  }
  if (options.keepBackup && !options.transport) {
    return throwError(
      () =>
        new TransshipError(
          'INVALID_OPTION',
          'keeping the backup (--keep-backup) needs staging (--via URL): the direct route stores none',
        ),
    )
  }
  return options.transport
    ? staged(options, stagingOf(options.transport, options, 'migrate', true))
    : direct(options)
}

/** What both routes pass to the destination's stages. */
function choicesOf(options: MigrateOptions) {
  return {
    ...(options.onConflict ? { onConflict: options.onConflict } : {}),
    ...(options.name ? { name: options.name } : {}),
    ...(options.onMissingNetwork ? { onMissingNetwork: options.onMissingNetwork } : {}),
    ...(options.changes ? { changes: options.changes } : {}),
  }
}

/** Both routes begin here: the source read, the destination checked; nothing changed. */
function preflight(options: MigrateOptions): MonoTypeOperatorFunction<MigrationEvent> {
  return (events) =>
    events.pipe(
      inspectSource({
        engine: options.source,
        container: options.container,
        ...(options.volumes ? { volumes: options.volumes } : {}),
      }),
      lockSource({ engine: options.source }),
      // One operator holds both engines: the source's grants travel, each named.
      checkDestination({
        engine: options.destination,
        sendImage: true,
        hostAccess: 'warn',
        ...choicesOf(options),
      }),
    )
}

function direct(options: MigrateOptions): Observable<MigrationEvent> {
  const { source, destination } = options
  const engines = { source, destination }
  const compare = { checksum: options.checksum ?? false }
  const checkpoint = options.checkpoint ?? true
  const choices = choicesOf(options)
  return startMigration(runOptions(options))
    .pipe(
      preflight(options),
      // While the source runs: the image, the volumes' content, the target (never
      // started) and its layer.
      copyImage(engines),
      precopyVolumes({ ...engines, ...compare, ...choices }),
      createTarget({ engine: destination, ...choices }),
      precopyLayer({ ...engines, ...compare }),
      preFreezeHook({ engine: source, command: options.hooks?.preFreeze }),
      checkpoint
        ? checkpointSource({ engine: source, destination })
        : stopSource({ engine: source }),
      // Frozen: what changed in the volumes, and the layer then the checkpoint (the layer
      // may make the target again elsewhere than on overlay2), at the same time.
      concurrently(
        syncVolumes(engines),
        checkpoint
          ? (events) => events.pipe(copyLayer(engines), copyCheckpoint(engines))
          : copyLayer(engines),
      ),
      options.verify ? verifyTarget(engines) : identity,
    )
    .pipe(
      checkpoint
        ? resumeTarget({ engine: destination, commit: false })
        : startTarget({ engine: destination, commit: false }),
      postRestore(options),
      finishSourceCheckpoint(options),
      options.removeSource ? removeSource({ engine: source }) : identity,
      rollbackOnFailure(rollbackOptions(options)),
      summarize(),
    )
}

/** Once the target runs: the post-restore hook, then nothing is rolled back any more. */
function postRestore(options: MigrateOptions): MonoTypeOperatorFunction<MigrationEvent> {
  return (events) =>
    events.pipe(
      postRestoreHook({
        engine: options.destination,
        command: options.hooks?.postRestore,
        keepOnFailure: options.hooks?.keepOnFailure,
      }),
      commitTarget(),
    )
}

/** Once the target runs: the source's checkpoint removed, unless kept. */
function finishSourceCheckpoint(options: MigrateOptions): MonoTypeOperatorFunction<MigrationEvent> {
  const checkpoint = options.checkpoint ?? true
  return checkpoint && !options.keepCheckpoint
    ? removeSourceCheckpoint({ engine: options.source })
    : identity
}

function staged(options: MigrateOptions, transport: Transport): Observable<MigrationEvent> {
  const { source, destination } = options
  const route = { source, destination, transport, checksum: options.checksum ?? false }
  const checkpoint = options.checkpoint ?? true
  const choices = choicesOf(options)
  return startMigration({ ...runOptions(options), ...stagedStartOf(transport, options) })
    .pipe(
      preflight(options),
      // While the source runs: the image, the volumes' content (stored, then applied at
      // the destination as soon as each archive is stored), the target (never started).
      backupImage({ engine: source, transport, destination }),
      restoreImage({ engine: destination, transport }),
      precopyVolumes({ ...route, ...choices }),
      createTarget({ engine: destination, ...choices }),
      preFreezeHook({ engine: source, command: options.hooks?.preFreeze }),
      checkpoint
        ? checkpointSource({ engine: source, destination })
        : stopSource({ engine: source }),
      // Frozen: the checkpoint, what changed in the volumes and the layer, at the same time,
      // each applied at the destination as soon as it is stored (the checkpoint, last, by
      // the start).
      concurrently(
        syncVolumes(route),
        (events) =>
          events.pipe(
            backupLayer({ engine: source, transport }),
            restoreLayer({ engine: destination, transport }),
          ),
        checkpoint ? backupCheckpoint({ engine: source, transport }) : identity,
      ),
    )
    .pipe(
      writeManifest({ transport }),
      options.verify ? verifyTarget({ source, destination }) : identity,
      checkpoint
        ? restoreCheckpoint({ engine: destination, transport, commit: false })
        : startTarget({ engine: destination, commit: false }),
      postRestore(options),
      options.keepBackup ? identity : removeBackup({ transport }),
      finishSourceCheckpoint(options),
      options.removeSource ? removeSource({ engine: source }) : identity,
      rollbackOnFailure(rollbackOptions(options)),
      summarize(),
    )
}
