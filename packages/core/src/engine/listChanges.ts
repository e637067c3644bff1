import type { EngineClient } from './client.js'
import { shortId } from './client.js'

/** One path `docker diff` lists: Kind 0 changed, 1 added, 2 deleted. */
export interface ContainerChange {
  readonly Path: string
  readonly Kind: number
}

/**
 * What a container changed on its image (`GET /containers/{id}/changes`, `docker diff`).
 * The engine answers `null` when nothing changed, which dockerode hands over as a Buffer.
 *
 * @param engine - the container's engine.
 * @param container - container id or name.
 * @param signal - aborts the call.
 * @return the changes, possibly none.
 */
export async function listChanges(
  engine: EngineClient,
  container: string,
  signal?: AbortSignal,
): Promise<ContainerChange[]> {
  const listed: unknown = await engine.call(
    `list the changes of container ${shortId(container)}`,
    (docker) => docker.getContainer(container).changes(signal ? { abortSignal: signal } : {}),
  )
  const parsed: unknown = Buffer.isBuffer(listed) ? JSON.parse(listed.toString() || 'null') : listed
  return Array.isArray(parsed) ? (parsed as ContainerChange[]) : []
}
