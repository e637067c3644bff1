import { concatMap, defer, type Observable } from 'rxjs'
import { backupStaging } from '../backups/backupStaging.js'
import type { EngineClient } from '../engine/client.js'
import type { MigrationEvent } from '../pipeline/events.js'
import { rollbackOnFailure } from '../pipeline/rollbackOnFailure.js'
import { type RunOptions, rollbackOptions, runOptions } from '../pipeline/runOptions.js'
import { startMigration } from '../pipeline/startMigration.js'
import { summarize } from '../pipeline/summarize.js'
import type { SecretKey } from '../sealing/secretKey.js'
import { checkDestination } from '../stages/checkDestination.js'
import { restoreCheckpoint } from '../stages/checkpoint/restoreCheckpoint.js'
import { createTarget } from '../stages/createTarget.js'
import type { OnConflict } from '../stages/destinationNames.js'
import type { OnMissingNetwork } from '../stages/destinationNetworks.js'
import { commitTarget, type Hooks, postRestoreHook } from '../stages/hooks.js'
import { restoreImage } from '../stages/image/restoreImage.js'
import { restoreLayer } from '../stages/layer/restoreLayer.js'
import { readManifest } from '../stages/readManifest.js'
import { restoreVolumes } from '../stages/restoreVolumes.js'
import type { TargetChanges } from '../stages/targetChanges.js'
import type { Transport } from '../transport/contract.js'

/** Options of {@link restore}. */
export interface RestoreOptions extends RunOptions {
  /** The destination engine. */
  readonly destination: EngineClient
  /** Where the backup is. */
  readonly transport: Transport
  /** The backup's id. */
  readonly id: string
  /** What to do with volume names taken at the destination (default `fail`). */
  readonly onConflict?: OnConflict
  /** The target's name; the source's by default. */
  readonly name?: string
  /** What the target changes from the source: env, ports, network and volume names. */
  readonly changes?: TargetChanges
  /** The command run in the target once it runs (`preFreeze` does not apply here). */
  readonly hooks?: Pick<Hooks, 'postRestore' | 'keepOnFailure'>
  /** A user-defined network missing at the destination: `create` it (default) or `fail`. */
  readonly onMissingNetwork?: OnMissingNetwork
  /** The key the backup was sealed with. */
  readonly secret?: SecretKey
  /**
   * Restore a backup that is not sealed (`backup --no-encrypt`): nothing authenticates it.
   * Refused by default.
   */
  readonly insecure?: boolean
  /**
   * Grant the target the host access its backup asks for (privileged mode, host paths, …;
   * see `hostGrantsOf`), each named in a warning; refused by default.
   */
  readonly allowHostAccess?: boolean
}

/**
 * The restore half on its own (`transship restore`): reads and checks the manifest,
 * checks the destination, loads the image if the backup carries it and the destination
 * lacks it, restores the volumes, creates the target, writes the container layer into
 * it and starts it, from the checkpoint when the backup has one. On failure
 * everything it made is removed. The backup stays where it is.
 *
 * ## Example
 * ```ts
 * restore({ destination, transport, id: 'web-20261125T101500Z-3f9a' }).subscribe()
 * ```
 *
 * @param options - destination, transport, backup id, choices.
 * @return the pipeline's events.
 */
export function restore(options: RestoreOptions): Observable<MigrationEvent> {
  const { destination: engine, secret } = options
  const choices = {
    ...(options.onConflict ? { onConflict: options.onConflict } : {}),
    ...(options.name ? { name: options.name } : {}),
    ...(options.onMissingNetwork ? { onMissingNetwork: options.onMissingNetwork } : {}),
    ...(options.changes ? { changes: options.changes } : {}),
  }
  // The manifest is read as stored; the artifacts of a sealed backup through the key, those
  // of a plain one (restored only when `insecure`) as they are, decompressed as stored.
  const staging = defer(() =>
    backupStaging(options.transport, options.id, {
      secret,
      insecure: options.insecure,
      signal: options.signal,
    }),
  )
  const stages = (transport: Transport) =>
    startMigration({ id: options.id, ...runOptions(options) }).pipe(
      readManifest({
        transport: options.transport,
        id: options.id,
        secret,
        insecure: options.insecure,
      }),
      checkDestination({
        engine,
        hostAccess: options.allowHostAccess ? 'warn' : 'refuse',
        ...choices,
      }),
      restoreImage({ engine, transport }),
      restoreVolumes({ engine, transport, ...choices }),
      createTarget({ engine, ...choices }),
      restoreLayer({ engine, transport }),
      // Starts the target from the backup's checkpoint, or plainly when it has none.
      restoreCheckpoint({ engine, transport, commit: false }),
      postRestoreHook({
        engine,
        command: options.hooks?.postRestore,
        keepOnFailure: options.hooks?.keepOnFailure,
      }),
      commitTarget(),
    )
  return staging.pipe(concatMap(stages), rollbackOnFailure(rollbackOptions(options)), summarize())
}
