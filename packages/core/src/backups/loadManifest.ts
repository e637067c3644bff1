import { buffer } from 'node:stream/consumers'
import { messageOf, TransshipError } from '../errors.js'
import { parseGroupManifest, parseManifest } from '../manifest/codec.js'
import {
  GROUP_MANIFEST_KEY,
  type GroupManifest,
  MANIFEST_KEY,
  type Manifest,
} from '../manifest/schema.js'
import { openBuffer } from '../sealing/sealedBuffer.js'
import { SEALED_MAGIC } from '../sealing/sealedFormat.js'
import type { SecretKey } from '../sealing/secretKey.js'
import type { Transport } from '../transport/contract.js'

/** A manifest larger than this is refused unread: staging is untrusted. */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024

/** Options of {@link loadManifest}. */
export interface LoadManifestOptions {
  /** The key the backup was sealed with; without it, a sealed manifest is refused. */
  readonly secret?: SecretKey | undefined
  /**
   * Accept a manifest that is not sealed (`backup --no-encrypt`), which nothing
   * authenticates; refused by default.
   */
  readonly insecure?: boolean | undefined
  readonly signal?: AbortSignal | undefined
}

/** A backup's manifest, and whether it was sealed (so authenticated by the key). */
export interface LoadedManifest {
  readonly manifest: Manifest
  readonly sealed: boolean
}

/**
 * Reads a backup's manifest from the staging, as untrusted data: sealed (opened with the
 * key, which authenticates it: changed, cut short, sealed with another key or copied from
 * another backup, it is refused), or plain JSON, accepted only when `insecure`. Then
 * validated against the manifest's schema, and its id checked against the backup's.
 *
 * @param transport - the staging, as stored (not a sealing transport).
 * @param id - the backup's id.
 * @param options - key, whether a plain manifest is accepted, signal.
 * @return the manifest, and whether it was sealed.
 * @throws TransshipError `BACKUP_ENCRYPTED` (sealed, no key), `BACKUP_NOT_ENCRYPTED` (plain,
 *   not `insecure`), `MANIFEST_UNAUTHENTIC` (does not open with the key),
 *   `MANIFEST_INVALID`, or the transport's `TRANSPORT_NOT_FOUND`.
 */
export async function loadManifest(
  transport: Transport,
  id: string,
  options: LoadManifestOptions = {},
): Promise<LoadedManifest> {
  const url = `${transport.url}/${id}`
  const { text, sealed } = await readDocument(
    transport,
    `${id}/${MANIFEST_KEY}`,
    url,
    'manifest',
    options,
  )
  const manifest = parseManifest(text, url)
  assertOwnId(manifest.id, id, url, 'manifest')
  return { manifest, sealed }
}

/** A group backup's manifest, and whether it was sealed. */
export interface LoadedGroupManifest {
  readonly group: GroupManifest
  readonly sealed: boolean
}

/**
 * Reads a group backup's manifest (`<id>/group.json`, `backup --project`) as
 * {@link loadManifest} reads a backup's: sealed and opened with the key, or plain only
 * when `insecure`; then validated, its id checked, and each member's backup id checked to
 * lie under the group's.
 *
 * @param transport - the staging, as stored.
 * @param id - the group backup's id.
 * @param options - key, whether a plain manifest is accepted, signal.
 * @return the group manifest, and whether it was sealed.
 * @throws TransshipError as {@link loadManifest}.
 */
export async function loadGroupManifest(
  transport: Transport,
  id: string,
  options: LoadManifestOptions = {},
): Promise<LoadedGroupManifest> {
  const url = `${transport.url}/${id}`
  const key = `${id}/${GROUP_MANIFEST_KEY}`
  const { text, sealed } = await readDocument(transport, key, url, 'group manifest', options)
  const group = parseGroupManifest(text, url)
  assertOwnId(group.id, id, url, 'group manifest')
  return { group, sealed }
}

/** A manifest's text: opened with the key when sealed, refused when plain unless `insecure`. */
async function readDocument(
  transport: Transport,
  key: string,
  url: string,
  what: string,
  options: LoadManifestOptions,
): Promise<{ text: string; sealed: boolean }> {
  const signal = options.signal ? { signal: options.signal } : {}
  const stat = await transport.stat(key, signal)
  if (stat && stat.size > MAX_MANIFEST_BYTES) {
    throw new TransshipError(
      'MANIFEST_INVALID',
      `${what} at ${url} is ${stat.size} bytes: more than a manifest holds (${MAX_MANIFEST_BYTES})`,
    )
  }
  const stored = await buffer(await transport.get(key, signal))
  const sealed = stored.subarray(0, SEALED_MAGIC.length).equals(SEALED_MAGIC)
  if (sealed) {
    if (!options.secret) {
      throw new TransshipError(
        'BACKUP_ENCRYPTED',
        `backup at ${url} is encrypted: give the key it was made with (--key-file FILE, or TRANSSHIP_KEY_FILE)`,
      )
    }
    try {
      return { text: openBuffer(options.secret, key, stored).toString('utf8'), sealed }
    } catch (cause) {
      throw new TransshipError(
        'MANIFEST_UNAUTHENTIC',
        `backup at ${url}: its ${what} does not open with this key: ${messageOf(cause)}. Nothing was restored`,
        { cause },
      )
    }
  }
  if (!options.insecure) {
    throw new TransshipError(
      'BACKUP_NOT_ENCRYPTED',
      `backup at ${url} is not encrypted (made with --no-encrypt): nothing proves who wrote it, and anyone who can write to the staging could have changed what it restores. Restore it with --insecure only if you trust everyone who can write there`,
    )
  }
  return { text: stored.toString('utf8'), sealed }
}

/** Refuses a manifest copied from another backup: its id must be the one it was read under. */
function assertOwnId(found: string, id: string, url: string, what: string): void {
  if (found !== id) {
    throw new TransshipError('MANIFEST_INVALID', `${what} at ${url} belongs to backup ${found}`)
  }
}
