import { type Observable, pipe, throwError } from 'rxjs'
import { eachMember, memberSubject } from '../group/eachMember.js'
import { findGroup, groupSelection } from '../group/findGroup.js'
import { writeGroupManifest } from '../group/groupManifest.js'
import { markSharedVolumes, shareImage } from '../group/shared.js'
import type { MigrationEvent } from '../pipeline/events.js'
import { rollbackOnFailure } from '../pipeline/rollbackOnFailure.js'
import { rollbackOptions, runOptions } from '../pipeline/runOptions.js'
import { stagedStartOf, stagingOf } from '../pipeline/staging.js'
import { startMigration } from '../pipeline/startMigration.js'
import type { MemberState, MigrationState } from '../pipeline/state.js'
import { summarize } from '../pipeline/summarize.js'
import type { Transport } from '../transport/contract.js'
import { type BackupOptions, type BackupPhases, backupPhases } from './backup.js'
import { volumesRefused } from './migrateGroup.js'

/** Options of {@link backupGroup}: those of `backup`, for a group instead of one container. */
export interface BackupGroupOptions extends Omit<BackupOptions, 'container' | 'preFreeze'> {
  /** The compose project (`com.docker.compose.project`) whose containers are backed up together. */
  readonly project?: string
  /** Containers, by name or id, backed up together. */
  readonly containers?: readonly string[]
}

/**
 * One backup of a group (`transship backup --project NAME`, or `backup C1 C2 …`), each
 * member backed up as `backup` does one, phase by phase across the group, in one freeze
 * window (all frozen at the same time): each member's backup under the group's id
 * (`<id>/<index>`), a volume several members mount and an image several run stored once,
 * then the group's manifest
 * (`<id>/group.json`), which `restore` reads to restore the whole group. One URL; one
 * ledger: a failure anywhere puts every member back and removes what was stored.
 *
 * @param options - source, the group, staging, and `backup`'s choices.
 * @return the pipeline's events; the summary names the group backup's URL.
 * @throws TransshipError `KEY_REQUIRED` as `backup`; `INVALID_OPTION` for a volume
 *   selection; `findGroup`'s errors. A member's
 *   pre-freeze hook is its label `transship.pre-freeze`.
 */
export function backupGroup(options: BackupGroupOptions): Observable<MigrationEvent> {
  if (options.volumes) return throwError(volumesRefused)
  let transport: Transport
  try {
    transport = stagingOf(options.transport, options, 'backup', false)
  } catch (error) {
    return throwError(() => error)
  }
  const phase = (which: keyof BackupPhases) => (member: MemberState, group: MigrationState) =>
    backupPhases({ ...options, transport }, memberSubject(member, group))[which]
  return startMigration({
    ...runOptions(options),
    ...stagedStartOf(options.transport, options),
  }).pipe(
    findGroup({
      engine: options.source,
      ...groupSelection(options),
      memberId: (index, groupId) => `${groupId}/${index}`,
    }),
    eachMember(phase('preflight')),
    markSharedVolumes(),
    eachMember((member, group) => pipe(shareImage(group), phase('prepare')(member, group))),
    eachMember(phase('freeze'), { order: 'dependants-first', concurrently: true }),
    eachMember(phase('transfer'), { concurrently: true }),
    (events) =>
      events.pipe(
        writeGroupManifest({
          transport,
          ...(options.project === undefined ? {} : { project: options.project }),
        }),
        eachMember(phase('resume')),
        rollbackOnFailure(rollbackOptions(options)),
        summarize(),
      ),
  )
}
