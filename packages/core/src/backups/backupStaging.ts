import { readingCodec } from '../compression/codecs.js'
import { compressedTransport } from '../compression/compressedTransport.js'
import { MANIFEST_KEY } from '../manifest/schema.js'
import { sealedTransport } from '../sealing/sealedTransport.js'
import type { Transport } from '../transport/contract.js'
import { type LoadManifestOptions, loadManifest } from './loadManifest.js'

/**
 * The staging as a restore reads a backup's artifacts: through the key when its manifest is
 * sealed, and decompressed with the codec its manifest names, as the backup stored them.
 * The manifest is read as {@link loadManifest} reads it, and refused as it refuses it.
 *
 * @param transport - the staging, as stored.
 * @param id - the backup's id.
 * @param options - key, whether a plain manifest is accepted, signal.
 * @return the transport the restore's stages read the artifacts through; the staging as
 *   it is when the backup has no manifest (`readManifest` then says so).
 * @throws what {@link loadManifest} throws, and TransshipError `COMPRESSION_UNKNOWN` or
 *   `COMPRESSION_UNAVAILABLE` for a codec this machine cannot read.
 */
export async function backupStaging(
  transport: Transport,
  id: string,
  options: LoadManifestOptions,
): Promise<Transport> {
  const signal = options.signal ? { signal: options.signal } : {}
  if (!(await transport.stat(`${id}/${MANIFEST_KEY}`, signal))) return transport
  const { manifest, sealed } = await loadManifest(transport, id, options)
  const opened = sealed && options.secret ? sealedTransport(transport, options.secret) : transport
  return manifest.compression
    ? compressedTransport(opened, readingCodec(manifest.compression, `${transport.url}/${id}`))
    : opened
}
