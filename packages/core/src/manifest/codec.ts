import { z } from 'zod'
import { TransshipError } from '../errors.js'
import { MANIFEST_FORMAT, MANIFEST_VERSION, type Manifest, ManifestSchema } from './schema.js'

/**
 * Reads a manifest from its JSON text and validates it against the schema.
 *
 * ## Example
 * ```ts
 * const manifest = parseManifest(text, 'file:///srv/staging/web-20261125T101500Z')
 * console.log(manifest.volumes.map((v) => v.name))
 * ```
 *
 * @param text - the manifest's JSON.
 * @param where - where it was read from, for error messages.
 * @return the validated manifest.
 * @throws TransshipError `MANIFEST_INVALID`, listing each field at fault, or
 *   `MANIFEST_UNSUPPORTED` when it was written in another format or version.
 */
export function parseManifest(text: string, where: string): Manifest {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    throw new TransshipError('MANIFEST_INVALID', `manifest at ${where} is not JSON`, { cause })
  }
  const head = z.looseObject({ format: z.unknown(), version: z.unknown() }).safeParse(json)
  if (
    head.success &&
    head.data.format === MANIFEST_FORMAT &&
    head.data.version !== MANIFEST_VERSION
  ) {
    throw new TransshipError(
      'MANIFEST_UNSUPPORTED',
      `manifest at ${where} has version ${String(head.data.version)}; this transship reads version ${MANIFEST_VERSION}`,
    )
  }
  const result = ManifestSchema.safeParse(json)
  if (!result.success) {
    throw new TransshipError(
      'MANIFEST_INVALID',
      `manifest at ${where} breaks the schema:\n${z.prettifyError(result.error)}`,
      { cause: result.error },
    )
  }
  return result.data
}

/**
 * Writes a manifest as JSON text, validating it first so that no invalid manifest is
 * ever stored.
 *
 * @param manifest - the manifest.
 * @return its JSON text.
 * @throws TransshipError `MANIFEST_INVALID` when it breaks the schema (a bug).
 */
export function serializeManifest(manifest: Manifest): string {
  const result = ManifestSchema.safeParse(manifest)
  if (!result.success) {
    throw new TransshipError(
      'MANIFEST_INVALID',
      `refusing to write an invalid manifest for backup ${manifest.id}:\n${z.prettifyError(result.error)}`,
      { cause: result.error },
    )
  }
  return `${JSON.stringify(result.data, null, 2)}\n`
}
