import { TransshipError } from '../errors.js'
import { sealedTransport } from '../sealing/sealedTransport.js'
import { SecretKey } from '../sealing/secretKey.js'
import { newBackupId } from '../stages/backupId.js'
import type { Transport } from '../transport/contract.js'

/** How a pipeline seals what it stages. */
export interface SealingOptions {
  /**
   * The secret key that seals the manifest and every artifact staged
   * (`transship key generate FILE`, then `readKeyFile`).
   */
  readonly secret?: SecretKey
  /**
   * `false` (`--no-encrypt`): stage in plaintext, which nothing authenticates: a restore
   * then needs `insecure`. Default true.
   */
  readonly encrypt?: boolean
}

/**
 * The staging a pipeline writes to: the transport, sealed with the key, or with a fresh
 * random key when `fresh` (a migration that reads its staging back itself), or as it is
 * with `encrypt: false`.
 *
 * @param transport - the staging as stored.
 * @param options - key, or `encrypt: false`.
 * @param what - the pipeline, for the error: `backup`, `migrate --keep-backup`, …
 * @param fresh - whether a fresh key may be made when none is given.
 * @return the transport the stages use.
 * @throws TransshipError `KEY_REQUIRED` when no key is given, none may be made, and
 *   encryption is on.
 */
export function stagingOf(
  transport: Transport,
  options: SealingOptions,
  what: string,
  fresh: boolean,
): Transport {
  if (options.encrypt === false) return transport
  if (options.secret) return sealedTransport(transport, options.secret)
  if (fresh) return sealedTransport(transport, SecretKey.generate())
  throw keyRequired(what)
}

/**
 * The initial state's backup id for a run that stages: a sealed backup's id names no
 * container (`backup-<time>-<random>`), since the id is the one thing the staging shows in
 * plaintext; a plain one's begins with the container's name (chosen when it is known).
 *
 * @param options - key, or `encrypt: false`.
 * @return `{ id }` for `startMigration`, or nothing.
 */
export function stagedIdOf(options: SealingOptions): { id?: string } {
  return options.encrypt === false ? {} : { id: newBackupId(SEALED_BACKUP_PREFIX) }
}

/** What a sealed backup's id begins with. */
export const SEALED_BACKUP_PREFIX = 'backup'

/**
 * The error of a pipeline that needs a key and has none.
 *
 * @param what - the pipeline, e.g. `backup`.
 * @return the error.
 */
export function keyRequired(what: string): TransshipError {
  return new TransshipError(
    'KEY_REQUIRED',
    `${what} needs a key to encrypt the backup with: make one with \`transship key generate FILE\`, then give --key-file FILE (or TRANSSHIP_KEY_FILE=FILE); --no-encrypt stores it in plaintext instead`,
  )
}
