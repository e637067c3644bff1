import { z } from 'zod'
import { TransshipError } from '../errors.js'
import {
  GROUP_MANIFEST_FORMAT,
  type GroupManifest,
  GroupManifestSchema,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type Manifest,
  ManifestSchema,
} from './schema.js'

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
  return parseDocument(text, where, 'manifest', MANIFEST_FORMAT, ManifestSchema)
}

/**
 * Reads a group backup's manifest (`backup --project`) from its JSON text and validates
 * it, each member's backup id under the group's own (`<id>/<index>`).
 *
 * @param text - the group manifest's JSON.
 * @param where - where it was read from, for error messages.
 * @return the validated group manifest.
 * @throws TransshipError `MANIFEST_INVALID`, `MANIFEST_UNSUPPORTED`, as {@link parseManifest}.
 */
export function parseGroupManifest(text: string, where: string): GroupManifest {
  const group = parseDocument(
    text,
    where,
    'group manifest',
    GROUP_MANIFEST_FORMAT,
    GroupManifestSchema,
  )
  for (const [index, member] of group.members.entries()) {
    // Staging is untrusted: a member must not point at another backup.
    if (member.id !== `${group.id}/${index}`) {
      throw new TransshipError(
        'MANIFEST_INVALID',
        `group manifest at ${where}: member ${index} (${member.container}) has backup id ${JSON.stringify(member.id)}, not ${group.id}/${index}`,
      )
    }
  }
  return group
}

function parseDocument<T>(
  text: string,
  where: string,
  what: string,
  format: string,
  schema: z.ZodType<T>,
): T {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    throw new TransshipError('MANIFEST_INVALID', `${what} at ${where} is not JSON`, { cause })
  }
  const head = z.looseObject({ format: z.unknown(), version: z.unknown() }).safeParse(json)
  if (head.success && head.data.format === format && head.data.version !== MANIFEST_VERSION) {
    throw new TransshipError(
      'MANIFEST_UNSUPPORTED',
      `${what} at ${where} has version ${String(head.data.version)}; this transship reads version ${MANIFEST_VERSION}`,
    )
  }
  const result = schema.safeParse(json)
  if (!result.success) {
    throw new TransshipError(
      'MANIFEST_INVALID',
      `${what} at ${where} breaks the schema:\n${z.prettifyError(result.error)}`,
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
  return serializeDocument(manifest, ManifestSchema, 'manifest')
}

/**
 * Writes a group manifest as JSON text, validated first.
 *
 * @param group - the group manifest.
 * @return its JSON text.
 * @throws TransshipError `MANIFEST_INVALID` when it breaks the schema (a bug).
 */
export function serializeGroupManifest(group: GroupManifest): string {
  return serializeDocument(group, GroupManifestSchema, 'group manifest')
}

function serializeDocument<T extends { readonly id: string }>(
  document: T,
  schema: z.ZodType<T>,
  what: string,
): string {
  const result = schema.safeParse(document)
  if (!result.success) {
    throw new TransshipError(
      'MANIFEST_INVALID',
      `refusing to write an invalid ${what} for backup ${document.id}:\n${z.prettifyError(result.error)}`,
      { cause: result.error },
    )
  }
  return `${JSON.stringify(result.data, null, 2)}\n`
}
