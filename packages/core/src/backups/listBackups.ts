import { TransshipError } from '../errors.js'
import { GROUP_MANIFEST_KEY, MANIFEST_KEY } from '../manifest/schema.js'
import { plainMessage } from '../pipeline/stage.js'
import type { SecretKey } from '../sealing/secretKey.js'
import type { Transport } from '../transport/contract.js'
import { loadGroupManifest, loadManifest } from './loadManifest.js'

/** A backup stored in a transport, as `transship ls` shows it. */
export interface StoredBackup {
  /** The backup's id: its key prefix. */
  readonly id: string
  /** `<transport URL>/<id>`, what `restore` and `rm` take. */
  readonly url: string
  /** Whether its manifest is there; an incomplete backup is never restored. */
  readonly complete: boolean
  /** Whether it is sealed (encrypted and authenticated); its content is then known only with the key. */
  readonly encrypted?: boolean
  /** The source container's name, from the manifest (of a sealed one: with the key). */
  readonly container?: string
  /** A group's backup (`backup --project`): its containers, dependencies first (with the key, if sealed). */
  readonly members?: readonly string[]
  /** A group's compose project, when it was one. */
  readonly project?: string
  /**
   * When the backup began, from the manifest; without it (sealed, no key), when its
   * manifest was stored, where the staging keeps that.
   */
  readonly createdAt?: string
  /** Bytes stored under its prefix. */
  readonly bytes: number
  /** Why its manifest could not be read, if it could not. */
  readonly problem?: string
}

/**
 * The backups stored in a transport: one per first key segment, with its container, size
 * and date read from its manifest.
 *
 * ## Example
 * ```ts
 * for (const backup of await listBackups(transport)) console.log(backup.url, backup.container)
 * ```
 *
 * @param transport - the transport.
 * @param options - `signal` to abort; `secret` to read sealed manifests (without it, a sealed
 *   backup shows its id, size and date only).
 * @return the complete backups, oldest first, then the incomplete ones.
 */
export async function listBackups(
  transport: Transport,
  options: { signal?: AbortSignal; secret?: SecretKey | undefined } = {},
): Promise<StoredBackup[]> {
  const byId = new Map<
    string,
    { bytes: number; hasManifest: boolean; group?: boolean; stored?: Date }
  >()
  for (const artifact of await transport.list('', options)) {
    const [id, ...rest] = artifact.key.split('/')
    if (!id || rest.length === 0) continue
    const entry = byId.get(id) ?? { bytes: 0, hasManifest: false }
    entry.bytes += artifact.size
    const name = rest.join('/')
    if (name === MANIFEST_KEY || name === GROUP_MANIFEST_KEY) {
      entry.hasManifest = true
      entry.group = name === GROUP_MANIFEST_KEY
      if (artifact.modified) entry.stored = artifact.modified
    }
    byId.set(id, entry)
  }
  const backups: StoredBackup[] = []
  for (const [id, { bytes, hasManifest, group, stored }] of byId) {
    const url = `${transport.url}/${id}`
    if (!hasManifest) {
      backups.push({ id, url, complete: false, bytes })
      continue
    }
    try {
      // Listing trusts nothing it reads: a plain manifest only shows its container.
      const reading = { secret: options.secret, insecure: true, signal: options.signal }
      backups.push({
        id,
        url,
        complete: true,
        bytes,
        ...(group
          ? await groupFacts(transport, id, reading)
          : await backupFacts(transport, id, reading)),
      })
    } catch (error) {
      if (error instanceof TransshipError && error.code === 'BACKUP_ENCRYPTED') {
        const createdAt = stored?.toISOString()
        backups.push({
          id,
          url,
          complete: true,
          encrypted: true,
          bytes,
          ...(createdAt ? { createdAt } : {}),
        })
        continue
      }
      backups.push({ id, url, complete: false, bytes, problem: plainMessage(error) })
    }
  }
  // Complete backups by date, then the incomplete ones (which have no date) by id.
  const order = (backup: StoredBackup) =>
    `${backup.createdAt ? 0 : 1}${backup.createdAt ?? backup.id}`
  return backups.sort((a, b) => order(a).localeCompare(order(b)))
}

type Reading = Parameters<typeof loadManifest>[2]

async function backupFacts(transport: Transport, id: string, reading: Reading) {
  const { manifest, sealed } = await loadManifest(transport, id, reading)
  return { encrypted: sealed, container: manifest.source.name, createdAt: manifest.createdAt }
}

async function groupFacts(transport: Transport, id: string, reading: Reading) {
  const { group, sealed } = await loadGroupManifest(transport, id, reading)
  const members = group.members.map((member) => member.container)
  return {
    encrypted: sealed,
    container: group.project === undefined ? members.join(' ') : `project ${group.project}`,
    members,
    ...(group.project === undefined ? {} : { project: group.project }),
    createdAt: group.createdAt,
  }
}

/**
 * Deletes one backup: its manifest first, so that an interrupted removal never leaves
 * something that looks whole, then everything under its prefix.
 *
 * @param transport - the transport.
 * @param id - the backup's id.
 * @param options - `signal` to abort.
 */
export async function deleteBackup(
  transport: Transport,
  id: string,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  await transport.remove(`${id}/${GROUP_MANIFEST_KEY}`, options)
  await transport.remove(`${id}/${MANIFEST_KEY}`, options)
  await transport.remove(id, options)
}
