import { identity, type Observable } from 'rxjs'
import type { EngineClient } from '../engine/client.js'
import type { MigrationEvent } from '../pipeline/events.js'
import { rollbackOnFailure } from '../pipeline/rollbackOnFailure.js'
import { startMigration } from '../pipeline/startMigration.js'
import { summarize } from '../pipeline/summarize.js'
import { backupVolumes } from '../stages/backupVolumes.js'
import { checkDestination } from '../stages/checkDestination.js'
import { backupCheckpoint } from '../stages/checkpoint/backupCheckpoint.js'
import { checkpointSource } from '../stages/checkpoint/checkpointSource.js'
import { restoreCheckpoint } from '../stages/checkpoint/restoreCheckpoint.js'
import { createTarget } from '../stages/createTarget.js'
import type { OnConflict } from '../stages/destinationNames.js'
import type { OnMissingNetwork } from '../stages/destinationNetworks.js'
import { removeSource } from '../stages/finishSource.js'
import { backupImage } from '../stages/image/backupImage.js'
import { restoreImage } from '../stages/image/restoreImage.js'
import { inspectSource } from '../stages/inspectSource.js'
import { backupLayer } from '../stages/layer/backupLayer.js'
import { restoreLayer } from '../stages/layer/restoreLayer.js'
import { removeBackup } from '../stages/removeBackup.js'
import { restoreVolumes } from '../stages/restoreVolumes.js'
import { startTarget } from '../stages/startTarget.js'
import { stopSource } from '../stages/stopSource.js'
import { writeManifest } from '../stages/writeManifest.js'
import type { Transport } from '../transport/contract.js'

/** Options of {@link migrate}. */
export interface MigrateOptions {
  readonly source: EngineClient
  readonly destination: EngineClient
  /** The container: name or id. */
  readonly container: string
  /** The route the archives take. */
  readonly transport: Transport
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
  /** A user-defined network missing at the destination: `create` it (default) or `fail`. */
  readonly onMissingNetwork?: OnMissingNetwork
  /** Remove the source container once the target runs (default: keep it, stopped). */
  readonly removeSource?: boolean
  /** Keep the staged backup once the target runs (default: delete it). */
  readonly keepBackup?: boolean
  /** Aborting it interrupts the migration, and everything is put back. */
  readonly signal?: AbortSignal
}

/**
 * A whole migration (`transship migrate`): checks the destination before touching
 * anything; sends the image if the destination lacks it (only the layers it lacks), while
 * the source still runs; then freezes the source with a CRIU checkpoint (or, cold, stops
 * it), and copies the checkpoint, the volumes and the container layer through the
 * transport; at the destination, restores the volumes, creates the target with the
 * source's configuration, writes the layer into it and starts it from the checkpoint, so
 * its processes continue. On any failure the destination's half-made state is removed and
 * the source is put back as it was (from its checkpoint where possible). After success the
 * source stays stopped, restart policy `no`, unless `removeSource`.
 *
 * ## Example
 * ```ts
 * migrate({ source: a, destination: b, container: 'web', transport }).subscribe({
 *   next: (event) => event.type === 'summary' && console.log(event.downtime),
 *   error: (error) => console.error(error.message),
 * })
 * ```
 *
 * @param options - engines, container, transport, choices.
 * @return the pipeline's events.
 */
export function migrate(options: MigrateOptions): Observable<MigrationEvent> {
  const { source, destination, transport } = options
  const checkpoint = options.checkpoint ?? true
  const choices = {
    ...(options.onConflict ? { onConflict: options.onConflict } : {}),
    ...(options.name ? { name: options.name } : {}),
    ...(options.onMissingNetwork ? { onMissingNetwork: options.onMissingNetwork } : {}),
  }
  const freeze = checkpoint
    ? (events: Observable<MigrationEvent>) =>
        events.pipe(
          checkpointSource({ engine: source, destination }),
          backupCheckpoint({ engine: source, transport }),
        )
    : stopSource({ engine: source })
  return startMigration(options.signal ? { signal: options.signal } : {})
    .pipe(
      inspectSource({
        engine: source,
        container: options.container,
        ...(options.volumes ? { volumes: options.volumes } : {}),
      }),
      checkDestination({ engine: destination, sendImage: true, ...choices }),
      // The image does not change: it travels before the source stops, out of the downtime.
      backupImage({ engine: source, transport, destination }),
      restoreImage({ engine: destination, transport }),
      // Volumes and layer are copied after the freeze, so they match the memory image.
      freeze,
      backupVolumes({ engine: source, transport }),
      backupLayer({ engine: source, transport }),
      writeManifest({ transport }),
    )
    .pipe(
      restoreVolumes({ engine: destination, transport, ...choices }),
      createTarget({ engine: destination, ...choices }),
      restoreLayer({ engine: destination, transport }),
      checkpoint
        ? restoreCheckpoint({ engine: destination, transport })
        : startTarget({ engine: destination }),
      options.keepBackup ? identity : removeBackup({ transport }),
      options.removeSource ? removeSource({ engine: source }) : identity,
      rollbackOnFailure(),
      summarize(),
    )
}
