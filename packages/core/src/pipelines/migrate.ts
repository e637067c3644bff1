import { type Observable, throwError } from 'rxjs'
import type { EngineClient } from '../engine/client.js'
import { TransshipError } from '../errors.js'
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
import type { OnConflict } from '../stages/destinationNames.js'
import type { OnMissingNetwork } from '../stages/destinationNetworks.js'
import { commitTarget, type Hooks } from '../stages/hooks.js'
import type { TargetChanges } from '../stages/targetChanges.js'
import type { Transport } from '../transport/contract.js'
import { migrationPhases } from './migrationPhases.js'

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
  const refused = refusedChoice(options)
  if (refused) return throwError(() => refused)
  return options.transport
    ? run(options, stagingOf(options.transport, options, 'migrate', true))
    : run(options)
}

/**
 * What is wrong with a migration's choices, before anything runs.
 *
 * @param options - a migration's options, of one container or a group.
 * @return the error, or `undefined` when the choices go together.
 */
export function refusedChoice(
  options: Omit<MigrateOptions, 'container'>,
): TransshipError | undefined {
  if (options.keepBackup && options.transport && options.encrypt !== false && !options.secret) {
    // A fresh key would make a kept backup that nobody can open.
    return keyRequired('migrate --keep-backup')
  }
  if (options.compress && !options.transport) {
    return new TransshipError(
      'INVALID_OPTION',
      'compressing (--compress) needs staging (--via URL): the direct route streams each artifact from engine to engine and stores nothing',
    )
  }
  if (options.keepBackup && !options.transport) {
    return new TransshipError(
      'INVALID_OPTION',
      'keeping the backup (--keep-backup) needs staging (--via URL): the direct route stores none',
    )
  }
  return undefined
}

function run(options: MigrateOptions, transport?: Transport): Observable<MigrationEvent> {
  const phases = migrationPhases(
    { ...options, ...(transport ? { transport } : {}) },
    { container: options.container },
  )
  const start = transport ? stagedStartOf(transport, options) : {}
  return startMigration({ ...runOptions(options), ...start }).pipe(
    phases.preflight,
    phases.prepare,
    phases.freeze,
    phases.transfer,
    phases.start,
    phases.settle,
    commitTarget(),
    phases.finish,
    (events) => events.pipe(rollbackOnFailure(rollbackOptions(options)), summarize()),
  )
}
