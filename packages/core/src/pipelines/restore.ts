import {
  concatMap,
  defer,
  from,
  type MonoTypeOperatorFunction,
  type Observable,
  pipe,
  throwError,
} from 'rxjs'
import { backupStaging } from '../backups/backupStaging.js'
import { loadGroupManifest } from '../backups/loadManifest.js'
import type { EngineClient } from '../engine/client.js'
import { TransshipError } from '../errors.js'
import { eachMember, memberSubject } from '../group/eachMember.js'
import { isGroupBackup, readGroupManifest } from '../group/groupManifest.js'
import { settleTargets } from '../group/settleTargets.js'
import { mountSharedVolumes } from '../group/shared.js'
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
 * everything it made is removed. The backup stays where it is. A group's backup
 * (`backup --project`) is restored whole: each member as one container is, phase by
 * phase across the group, the targets started dependencies first once all are made.
 *
 * ## Example
 * ```ts
 * restore({ destination, transport, id: 'web-20261125T101500Z-3f9a' }).subscribe()
 * ```
 *
 * @param options - destination, transport, backup id, choices.
 * @return the pipeline's events.
 * @throws TransshipError `INVALID_OPTION` for a group's backup restored with `name`, a
 *   port remap or a post-restore command (each member keeps its own).
 */
export function restore(options: RestoreOptions): Observable<MigrationEvent> {
  const signal = options.signal ? { signal: options.signal } : {}
  return from(isGroupBackup(options.transport, options.id, signal)).pipe(
    concatMap((group) => (group ? restoreGroup(options) : restoreOne(options))),
  )
}

function restoreOne(options: RestoreOptions): Observable<MigrationEvent> {
  const stages = (transport: Transport) => {
    const phases = restorePhases(options, transport)
    return startMigration({ id: options.id, ...runOptions(options) }).pipe(
      readManifest(manifestOf(options, options.id)),
      phases.preflight,
      phases.prepare,
      phases.start,
      phases.settle,
      commitTarget(),
    )
  }
  return stagingFor(options, options.id).pipe(
    concatMap(stages),
    rollbackOnFailure(rollbackOptions(options)),
    summarize(),
  )
}

function restoreGroup(options: RestoreOptions): Observable<MigrationEvent> {
  const refused = refusedForGroup(options)
  if (refused) return throwError(() => refused)
  const stages = (transport: Transport) => {
    const phases = restorePhases(options, transport)
    return startMigration({ id: options.id, ...runOptions(options) }).pipe(
      readGroupManifest(manifestOf(options, options.id)),
      eachMember((member) => readManifest(manifestOf(options, member.state.id as string))),
      eachMember(() => phases.preflight),
      eachMember((member, group) =>
        pipe(
          mountSharedVolumes(group),
          restorePhases(options, transport, { peers: memberSubject(member, group).peers }).prepare,
        ),
      ),
      // Each target starts without waiting; settleTargets then waits once for all of them.
      eachMember(() => restorePhases(options, transport, { settleMs: 0 }).start),
      settleTargets({ engine: options.destination }),
      eachMember(() => phases.settle),
      commitTarget(),
    )
  }
  // The members were stored by one backup: sealed and compressed alike.
  const firstMember = defer(async () => {
    const { group } = await loadGroupManifest(options.transport, options.id, {
      secret: options.secret,
      insecure: options.insecure,
      signal: options.signal,
    })
    return (group.members[0] as { id: string }).id
  })
  return firstMember.pipe(
    concatMap((id) => stagingFor(options, id)),
    concatMap(stages),
    rollbackOnFailure(rollbackOptions(options)),
    summarize(),
  )
}

/**
 * What a group's restore refuses: what names one container's target.
 *
 * @param options - the restore's choices.
 * @return the error, or `undefined`.
 */
export function refusedForGroup(
  options: Pick<RestoreOptions, 'id' | 'name' | 'changes' | 'hooks'>,
): TransshipError | undefined {
  const which =
    options.name !== undefined
      ? `--name ${options.name} names one target`
      : options.changes?.publish
        ? "--publish replaces one container's port bindings"
        : options.hooks?.postRestore !== undefined
          ? "--post-restore names one container's hook (give each its label transship.post-restore)"
          : undefined
  return which === undefined
    ? undefined
    : new TransshipError(
        'INVALID_OPTION',
        `backup ${options.id} is a group's: ${which}, and the containers of a group keep their own`,
      )
}

/** The staging as a restore reads a backup's artifacts (`backupStaging`). */
function stagingFor(options: RestoreOptions, id: string): Observable<Transport> {
  return defer(() =>
    backupStaging(options.transport, id, {
      secret: options.secret,
      insecure: options.insecure,
      signal: options.signal,
    }),
  )
}

function manifestOf(options: RestoreOptions, id: string) {
  return { transport: options.transport, id, secret: options.secret, insecure: options.insecure }
}

type Phase = MonoTypeOperatorFunction<MigrationEvent>

/** One container's restore, after its manifest is read, in the order it happens. */
interface RestorePhases {
  /** The destination checked; nothing changed. */
  readonly preflight: Phase
  /** The image, the volumes, the target (not started) and its layer. */
  readonly prepare: Phase
  /** The target started, from the backup's checkpoint when it has one; not yet committed. */
  readonly start: Phase
  /** The post-restore hook, which may still roll back. */
  readonly settle: Phase
}

function restorePhases(
  options: RestoreOptions,
  transport: Transport,
  member: {
    /** In a group: the targets already made, by source id and name (see `TargetInputs`). */
    readonly peers?: Readonly<Record<string, string>>
    /** How long the target must keep running after its start (default 500 ms). */
    readonly settleMs?: number
  } = {},
): RestorePhases {
  const { peers, settleMs } = member
  const { destination: engine } = options
  const choices = {
    ...(options.onConflict ? { onConflict: options.onConflict } : {}),
    ...(options.name ? { name: options.name } : {}),
    ...(options.onMissingNetwork ? { onMissingNetwork: options.onMissingNetwork } : {}),
    ...(options.changes ? { changes: options.changes } : {}),
  }
  return {
    preflight: checkDestination({
      engine,
      hostAccess: options.allowHostAccess ? 'warn' : 'refuse',
      ...choices,
    }),
    prepare: (events) =>
      events.pipe(
        restoreImage({ engine, transport }),
        restoreVolumes({ engine, transport, ...choices }),
        createTarget({ engine, ...choices, ...(peers ? { peers } : {}) }),
        restoreLayer({ engine, transport }),
      ),
    // Starts the target from the backup's checkpoint, or plainly when it has none.
    start: restoreCheckpoint({
      engine,
      transport,
      commit: false,
      ...(settleMs === undefined ? {} : { settleMs }),
    }),
    settle: postRestoreHook({
      engine,
      command: options.hooks?.postRestore,
      keepOnFailure: options.hooks?.keepOnFailure,
    }),
  }
}
