import { Readable } from 'node:stream'
import { codecOf } from '../compression/compressedTransport.js'
import { TransshipError } from '../errors.js'
import { serializeManifest } from '../manifest/codec.js'
import {
  type Artifact,
  MANIFEST_FORMAT,
  MANIFEST_KEY,
  MANIFEST_VERSION,
  type Manifest,
} from '../manifest/schema.js'
import { defineStage } from '../pipeline/stage.js'
import type { Transport, TransportCallOptions } from '../transport/contract.js'
import { requireSource } from './require.js'
import { undoStoring } from './storeArtifact.js'

/** Options of {@link writeManifest}. */
export interface WriteManifestOptions {
  /** Where the backup's artifacts went. */
  readonly transport: Transport
}

/**
 * Stage `write-manifest`: stores the manifest, last, once every artifact is stored: its
 * presence is what marks a backup complete. Through a compressing transport
 * (`compressedTransport`), it records the codec and each artifact's compressed size. The
 * state then knows the backup's URL.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine, container: 'web' }),
 *   backupVolumes({ engine, transport }),
 *   writeManifest({ transport }),
 * ).subscribe((event) => event.type === 'state' && console.log(event.state.backupUrl))
 * ```
 *
 * @param options - the transport.
 * @return the stage operator.
 */
export function writeManifest(options: WriteManifestOptions) {
  return defineStage('write-manifest', async (state, { signal, undoable }) => {
    const { transport } = options
    const source = requireSource(state, 'write-manifest')
    const { backupId, ...container } = source
    const compression = codecOf(transport)
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      id: backupId,
      createdAt: new Date(state.startedAt).toISOString(),
      source: container,
      volumes: [...state.volumes],
      skippedMounts: [...state.skippedMounts],
      artifacts: await storedArtifacts(transport, backupId, state.artifacts, { signal }),
      warnings: [...state.warnings],
      ...(state.layer ? { layer: state.layer } : {}),
      ...(state.image ? { image: state.image } : {}),
      ...(state.checkpoint ? { checkpoint: state.checkpoint } : {}),
      ...(compression ? { compression } : {}),
    }
    const key = `${backupId}/${MANIFEST_KEY}`
    await undoStoring(transport, key, undoable)
    await transport.put(key, Readable.from([serializeManifest(manifest)]), undefined, { signal })
    return { ...state, manifest, backupUrl: `${transport.url}/${backupId}` }
  })
}

/**
 * The artifacts as the manifest lists them: through a compressing transport, each with its
 * compressed size, as the transport stores it.
 */
async function storedArtifacts(
  transport: Transport,
  backupId: string,
  artifacts: readonly Artifact[],
  options: TransportCallOptions,
): Promise<Artifact[]> {
  if (!codecOf(transport)) return [...artifacts]
  return Promise.all(
    artifacts.map(async (artifact) => {
      const stored = await transport.stat(`${backupId}/${artifact.key}`, options)
      if (!stored) {
        throw new TransshipError(
          'BACKUP_INCOMPLETE',
          `artifact ${artifact.key} of backup ${backupId} is missing from ${transport.url}`,
        )
      }
      return { ...artifact, compressedSize: stored.size }
    }),
  )
}
