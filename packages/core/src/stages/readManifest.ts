import { type LoadManifestOptions, loadManifest } from '../backups/loadManifest.js'
import { readingCodec } from '../compression/codecs.js'
import { TransshipError } from '../errors.js'
import { MANIFEST_KEY } from '../manifest/schema.js'
import { defineStage } from '../pipeline/stage.js'
import { sealedSize } from '../sealing/sealedFormat.js'
import type { Transport } from '../transport/contract.js'

/** Options of {@link readManifest}. */
export interface ReadManifestOptions extends Omit<LoadManifestOptions, 'signal'> {
  /** Where the backup is, as stored (not a sealing transport). */
  readonly transport: Transport
  /** The backup's id: its key prefix in the transport. */
  readonly id: string
}

/**
 * Stage `read-manifest`: the first stage of a restore. Reads the backup's manifest,
 * authenticated with the key when sealed (a plain one only when `insecure`), validates it,
 * checks that this machine has the codec the artifacts were compressed with, and that every
 * artifact it lists is stored with its recorded size. A backup
 * without a manifest is incomplete and is never restored.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   readManifest({ transport, id: 'web-20261125T101500Z-3f9a' }),
 *   restoreVolumes({ engine, transport }),
 * )
 * ```
 *
 * @param options - transport, backup id, key, whether a plain manifest is accepted.
 * @return the stage operator.
 * @throws TransshipError `BACKUP_INCOMPLETE` (no manifest, or an artifact missing or of
 *   the wrong size), `MANIFEST_INVALID`, `MANIFEST_UNSUPPORTED`, `COMPRESSION_UNKNOWN`,
 *   `COMPRESSION_UNAVAILABLE`.
 */
export function readManifest(options: ReadManifestOptions) {
  return defineStage('read-manifest', async (state, { signal }) => {
    const { transport, id } = options
    const url = `${transport.url}/${id}`
    const key = `${id}/${MANIFEST_KEY}`
    if (!(await transport.stat(key, { signal }))) {
      const stored = await transport.list(id, { signal })
      throw new TransshipError(
        'BACKUP_INCOMPLETE',
        stored.length === 0
          ? `no backup at ${url}`
          : `backup at ${url} has no manifest (${stored.length} artifacts): it is incomplete and is not restored`,
      )
    }
    const { manifest, sealed } = await loadManifest(transport, id, {
      secret: options.secret,
      insecure: options.insecure,
      signal,
    })
    // A codec this machine lacks is refused before anything is made.
    if (manifest.compression) readingCodec(manifest.compression, url)
    for (const artifact of manifest.artifacts) {
      const stat = await transport.stat(`${id}/${artifact.key}`, { signal })
      const plain = artifact.compressedSize ?? artifact.size
      const size = sealed ? sealedSize(plain) : plain
      if (stat?.size !== size) {
        throw new TransshipError(
          'BACKUP_INCOMPLETE',
          `backup at ${url}: artifact ${artifact.key} is ${stat ? `${stat.size} bytes stored, not ${size}` : 'missing'}`,
        )
      }
    }
    return {
      ...state,
      id,
      source: manifest.source,
      volumes: manifest.volumes,
      skippedMounts: manifest.skippedMounts,
      artifacts: manifest.artifacts,
      ...(manifest.layer ? { layer: manifest.layer } : {}),
      ...(manifest.image ? { image: manifest.image } : {}),
      ...(manifest.checkpoint ? { checkpoint: manifest.checkpoint } : {}),
      warnings: [...manifest.warnings, ...state.warnings],
      manifest,
      backupUrl: url,
    }
  })
}
