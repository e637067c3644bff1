import { type Observable, pipe, throwError } from 'rxjs'
import { TransshipError } from '../errors.js'
import { eachMember, memberSubject } from '../group/eachMember.js'
import { findGroup, groupSelection } from '../group/findGroup.js'
import { settleTargets } from '../group/settleTargets.js'
import { markSharedVolumes, mountSharedVolumes } from '../group/shared.js'
import type { MigrationEvent } from '../pipeline/events.js'
import { rollbackOnFailure } from '../pipeline/rollbackOnFailure.js'
import { rollbackOptions, runOptions } from '../pipeline/runOptions.js'
import { SEALED_BACKUP_PREFIX, stagedStartOf, stagingOf } from '../pipeline/staging.js'
import { startMigration } from '../pipeline/startMigration.js'
import type { MemberState, MigrationState } from '../pipeline/state.js'
import { summarize } from '../pipeline/summarize.js'
import { newBackupId } from '../stages/backupId.js'
import { commitTarget } from '../stages/hooks.js'
import { type MigrateOptions, refusedChoice } from './migrate.js'
import { type MigrationPhases, migrationPhases, type PhaseOptions } from './migrationPhases.js'

/** Options of {@link migrateGroup}: those of `migrate`, for a group instead of one container. */
export interface MigrateGroupOptions extends Omit<MigrateOptions, 'container' | 'name'> {
  /** The compose project (`com.docker.compose.project`) whose containers move together. */
  readonly project?: string
  /** Containers, by name or id, that move together. */
  readonly containers?: readonly string[]
}

/**
 * Moves a group of containers together (`transship migrate --project NAME`, or
 * `migrate C1 C2 …`), each as `migrate` moves one, phase by phase across the group, in one
 * freeze window: every member's image, volumes and target are made while all of them run;
 * then they are frozen, all at the same time (started dependants first); what
 * changed moves; and only then do the targets start, dependencies first (the order
 * `findGroup` reads from compose's labels and the containers' references; what moves
 * once all are frozen moves for every member at the same time). A volume
 * several members mount is copied once; the user-defined networks are made once, each
 * target joining with its aliases; compose's labels travel with each container. One
 * ledger holds the whole group's undo steps: a failure anywhere puts every member back.
 *
 * ## Example
 * ```ts
 * migrateGroup({ source: a, destination: b, project: 'shop' }).subscribe({
 *   next: (event) => event.type === 'summary' && console.log(event.members),
 * })
 * ```
 *
 * @param options - engines, the group, and `migrate`'s choices.
 * @return the pipeline's events; each member's stage events name its `container`.
 * @throws TransshipError `INVALID_OPTION` for a volume selection, a port remap
 *   (`changes.publish`) or a hook command (`hooks.preFreeze`, `hooks.postRestore`; labels
 *   give each member its own), besides `migrate`'s own refusals; and `findGroup`'s errors.
 */
export function migrateGroup(options: MigrateGroupOptions): Observable<MigrationEvent> {
  const refused = refusedChoice(options) ?? refusedForGroup(options)
  if (refused) return throwError(() => refused)
  const transport = options.transport && stagingOf(options.transport, options, 'migrate', true)
  // Each target starts without waiting; settleTargets then waits once for all of them.
  const phaseOptions: PhaseOptions = {
    ...options,
    ...(transport ? { transport } : {}),
    settleMs: 0,
  }
  const phase = (which: keyof MigrationPhases) => (member: MemberState, group: MigrationState) =>
    migrationPhases(phaseOptions, memberSubject(member, group))[which]
  const staged = transport ? stagedStartOf(transport, options) : undefined
  return startMigration({
    ...runOptions(options),
    ...(staged?.warnings ? { warnings: staged.warnings } : {}),
  }).pipe(
    findGroup({
      engine: options.source,
      ...groupSelection(options),
      // A sealed backup's id names no container: each member's is made as the staging's.
      ...(staged?.id ? { memberId: () => newBackupId(SEALED_BACKUP_PREFIX) } : {}),
    }),
    eachMember(phase('preflight')),
    markSharedVolumes(),
    eachMember((member, group) => pipe(mountSharedVolumes(group), phase('prepare')(member, group))),
    // All at once: one member's freeze never waits for another's (a checkpoint each).
    eachMember(phase('freeze'), { order: 'dependants-first', concurrently: true }),
    // Once all are frozen, each member's changes, layer and checkpoint move at the same time.
    eachMember(phase('transfer'), { concurrently: true }),
    (events) =>
      events.pipe(
        eachMember(phase('start')),
        settleTargets({ engine: options.destination }),
        eachMember(phase('settle')),
        commitTarget(),
        eachMember(phase('finish')),
        rollbackOnFailure(rollbackOptions(options)),
        summarize(),
      ),
  )
}

function refusedForGroup(options: MigrateGroupOptions): TransshipError | undefined {
  if (options.changes?.publish) {
    return new TransshipError(
      'INVALID_OPTION',
      "--publish replaces one container's port bindings, and a group keeps each container's own: migrate the container whose ports change on its own",
    )
  }
  if (options.volumes) return volumesRefused()
  if (options.hooks?.preFreeze !== undefined || options.hooks?.postRestore !== undefined) {
    return new TransshipError(
      'INVALID_OPTION',
      "--pre-freeze and --post-restore name one container's hook: in a group, give each container its own with the labels transship.pre-freeze and transship.post-restore",
    )
  }
  return undefined
}

/**
 * `--volumes` given to a group: it names one container's volumes, by name or mount path.
 *
 * @return the error.
 */
export function volumesRefused(): TransshipError {
  return new TransshipError(
    'INVALID_OPTION',
    "--volumes selects one container's volumes: a group copies every volume of its containers",
  )
}
