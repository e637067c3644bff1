import { TransshipError } from '../errors.js'
import type { SourceContainer } from '../manifest/schema.js'
import type { MigrationState } from '../pipeline/state.js'

/**
 * The state's source container and backup id, which every stage after `inspect` (or
 * `read-manifest`) needs.
 *
 * @throws TransshipError `PIPELINE_ORDER` when the pipeline lacks those stages before `stage`.
 */
export function requireSource(
  state: MigrationState,
  stage: string,
): SourceContainer & { readonly backupId: string } {
  if (!state.source || state.id === undefined) {
    throw new TransshipError(
      'PIPELINE_ORDER',
      `${stage} needs the source container: put inspectSource or readManifest before it`,
    )
  }
  return { ...state.source, backupId: state.id }
}
