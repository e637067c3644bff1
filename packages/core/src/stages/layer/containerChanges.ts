import type { EngineClient } from '../../engine/client.js'
import { listChanges } from '../../engine/listChanges.js'
import type { LayerRecord } from '../../manifest/schema.js'
import { byPath, type ExcludedPaths, layerPath } from './layerPaths.js'

/** One path `docker diff` lists. */
export interface LayerChange {
  /** The path as the layer names it: relative, raw bytes as latin1 characters. */
  readonly path: string
  /** `A` added, `C` changed, `D` deleted. */
  readonly kind: 'A' | 'C' | 'D'
  /**
   * Whether the engine could report the name: it sends names as UTF-8 text, and a name
   * that is not valid UTF-8 arrives with U+FFFD in place of its bytes, naming no file.
   */
  readonly reported: boolean
}

/** The changes endpoint's kinds, by number. */
const KINDS = ['C', 'A', 'D'] as const

/**
 * The paths a container added, changed and deleted on its image, as `docker diff` lists
 * them (`GET /containers/{id}/changes`), without the excluded ones, ordered so that a
 * directory comes before what it holds.
 *
 * @param engine - the engine.
 * @param container - the container's id.
 * @param excluded - mount points and engine files, left out with what is beneath them.
 * @param signal - aborts the call.
 * @return the changes.
 */
export async function containerChanges(
  engine: EngineClient,
  container: string,
  excluded: ExcludedPaths,
  signal: AbortSignal,
): Promise<LayerChange[]> {
  const changes: LayerChange[] = []
  for (const { Path, Kind } of await listChanges(engine, container, signal)) {
    const path = layerPath(Path)
    const kind = KINDS[Kind]
    if (path !== '' && kind !== undefined && !excluded.covers(path)) {
      changes.push({ path, kind, reported: !Path.includes('\uFFFD') })
    }
  }
  return changes.sort((a, b) => byPath(a.path, b.path))
}

/**
 * How many paths were added, changed and deleted, for the manifest.
 *
 * @param changes - the changes.
 * @return the counts.
 */
export function countChanges(changes: readonly LayerChange[]): LayerRecord['changes'] {
  const count = (kind: LayerChange['kind']) => changes.filter((c) => c.kind === kind).length
  return { added: count('A'), changed: count('C'), deleted: count('D') }
}
