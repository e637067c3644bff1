import { type Compression, compressingCodec } from '../compression/codecs.js'
import { compressedTransport } from '../compression/compressedTransport.js'
import { TransshipError } from '../errors.js'
import type { Warning } from '../manifest/schema.js'
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

/** How a pipeline compresses what it stages. */
export interface CompressionOptions {
  /**
   * `zstd`, `gzip` or `none` (`--compress`): how every artifact but the manifest is
   * compressed, before it is sealed. Default: `none` for a `local` transport (`file://`),
   * `zstd` for any other; zstd is gzip, with a warning, where this machine has no zstd.
   */
  readonly compress?: Compression
}

/**
 * The staging a pipeline writes to: the transport, sealed with the key, or with a fresh
 * random key when `fresh` (a migration that reads its staging back itself), or as it is
 * with `encrypt: false`; compressed before it is sealed unless `compress` is `none`.
 *
 * @param transport - the staging as stored.
 * @param options - key, or `encrypt: false`; compression.
 * @param what - the pipeline, for the error: `backup`, `migrate --keep-backup`, …
 * @param fresh - whether a fresh key may be made when none is given.
 * @return the transport the stages use.
 * @throws TransshipError `KEY_REQUIRED` when no key is given, none may be made, and
 *   encryption is on.
 */
export function stagingOf(
  transport: Transport,
  options: SealingOptions & CompressionOptions,
  what: string,
  fresh: boolean,
): Transport {
  const { codec } = compressingCodec(chosenCompression(transport, options))
  const sealed = sealedStaging(transport, options, what, fresh)
  return codec ? compressedTransport(sealed, codec) : sealed
}

function sealedStaging(
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

/** The compression chosen, or the transport's default. */
function chosenCompression(transport: Transport, options: CompressionOptions): Compression {
  // A local directory is as fast to write as to compress into.
  return options.compress ?? (transport.name === 'local' ? 'none' : 'zstd')
}

/**
 * The initial state of a run that stages: its backup id, and the warning of a compression
 * other than the one asked for. A sealed backup's id names no container
 * (`backup-<time>-<random>`), since the id is the one thing the staging shows in
 * plaintext; a plain one's begins with the container's name (chosen when it is known).
 *
 * @param transport - the staging as stored.
 * @param options - key, or `encrypt: false`; compression.
 * @return `{ id, warnings }` for `startMigration`.
 */
export function stagedStartOf(
  transport: Transport,
  options: SealingOptions & CompressionOptions,
): { id?: string; warnings?: Warning[] } {
  const { warning } = compressingCodec(chosenCompression(transport, options))
  return {
    ...(options.encrypt === false ? {} : { id: newBackupId(SEALED_BACKUP_PREFIX) }),
    ...(warning ? { warnings: [{ stage: 'compression', message: warning }] } : {}),
  }
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
