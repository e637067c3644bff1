import { Readable } from 'node:stream'
import { type LoadManifestOptions, loadGroupManifest } from '../backups/loadManifest.js'
import { TransshipError } from '../errors.js'
import { serializeGroupManifest } from '../manifest/codec.js'
import {
  GROUP_MANIFEST_FORMAT,
  GROUP_MANIFEST_KEY,
  type GroupManifest,
  MANIFEST_VERSION,
} from '../manifest/schema.js'
import { defineStage } from '../pipeline/stage.js'
import { initialState, type MemberState } from '../pipeline/state.js'
import { undoStoring } from '../stages/storeArtifact.js'
import type { Transport } from '../transport/contract.js'

/** Options of {@link writeGroupManifest}. */
export interface WriteGroupManifestOptions {
  /** Where the members' backups are (sealing, as theirs). */
  readonly transport: Transport
  /** The compose project, when the group is one. */
  readonly project?: string
}

/**
 * Stage `write-group-manifest`, the last of a group's backup: once every member's backup
 * is complete, stores the group's manifest (`<id>/group.json`), which lists them in
 * dependency order and marks the group backup complete. The state then holds its URL.
 *
 * @param options - transport, project.
 * @return the stage operator.
 * @throws TransshipError `PIPELINE_ORDER` before the members' backups are written.
 */
export function writeGroupManifest(options: WriteGroupManifestOptions) {
  return defineStage('write-group-manifest', async (state, { signal, undoable }) => {
    const { transport } = options
    const members = (state.members ?? []).map((member) => ({
      container: member.container,
      id: member.state.manifest?.id,
    }))
    if (state.id === undefined || members.length === 0 || members.some((m) => !m.id)) {
      throw new TransshipError(
        'PIPELINE_ORDER',
        "write-group-manifest needs every member's backup written: put it after eachMember(… writeManifest …)",
      )
    }
    const group: GroupManifest = {
      format: GROUP_MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      id: state.id,
      createdAt: new Date(state.startedAt).toISOString(),
      ...(options.project === undefined ? {} : { project: options.project }),
      members: members as { container: string; id: string }[],
    }
    const key = `${state.id}/${GROUP_MANIFEST_KEY}`
    await undoStoring(transport, key, undoable)
    await transport.put(key, Readable.from([serializeGroupManifest(group)]), undefined, { signal })
    return { ...state, backupUrl: `${transport.url}/${state.id}` }
  })
}

/** Options of {@link readGroupManifest}. */
export interface ReadGroupManifestOptions extends Omit<LoadManifestOptions, 'signal'> {
  /** Where the group backup is, as stored (not a sealing transport). */
  readonly transport: Transport
  /** The group backup's id. */
  readonly id: string
}

/**
 * Stage `read-group-manifest`, the first of a group's restore: reads the group's manifest
 * (authenticated as a backup's is), and gives the state one member per backup it lists,
 * dependencies first, each with its own state on the run's ledger, for `readManifest`.
 *
 * @param options - transport, id, key.
 * @return the stage operator.
 * @throws `loadGroupManifest`'s errors.
 */
export function readGroupManifest(options: ReadGroupManifestOptions) {
  return defineStage('read-group-manifest', async (state, { signal }) => {
    const { group } = await loadGroupManifest(options.transport, options.id, {
      secret: options.secret,
      insecure: options.insecure,
      signal,
    })
    const members = group.members.map(
      (member): MemberState => ({
        container: member.container,
        state: initialState({
          id: member.id,
          ledger: state.ledger,
          ...(state.signal ? { signal: state.signal } : {}),
        }),
      }),
    )
    return { ...state, id: group.id, members, backupUrl: `${options.transport.url}/${group.id}` }
  })
}

/**
 * Whether a backup id names a group backup (`backup --project`): its group manifest is there.
 *
 * @param transport - the staging, as stored.
 * @param id - the backup's id.
 * @param options - `signal` to abort.
 */
export async function isGroupBackup(
  transport: Transport,
  id: string,
  options: { signal?: AbortSignal } = {},
): Promise<boolean> {
  return (await transport.stat(`${id}/${GROUP_MANIFEST_KEY}`, options)) !== undefined
}
