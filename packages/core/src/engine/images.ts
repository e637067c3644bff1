// Looking an image up on an engine: what stages, plans and helper containers share.

import type Dockerode from 'dockerode'
import { TransshipError } from '../errors.js'
import type { EngineClient } from './client.js'

/**
 * An image ID as logs show it, like `docker images` does: `sha256:` and all but 12 hex
 * digits dropped. Anything else is returned as it is.
 */
export function shortImageId(id: string): string {
  return /^sha256:[0-9a-f]{64}$/.test(id) ? id.slice(7, 19) : id
}

/**
 * An image the engine holds. Only "not found" means absent: an engine that does not
 * answer fails the call.
 *
 * @param engine - the engine.
 * @param ref - image ID or name.
 * @return the image's inspect, or `undefined` when the engine does not hold it.
 */
export async function findImage(
  engine: EngineClient,
  ref: string,
): Promise<Dockerode.ImageInspectInfo | undefined> {
  try {
    return await engine.call(`inspect image ${shortImageId(ref)}`, (docker) =>
      docker.getImage(ref).inspect(),
    )
  } catch (error) {
    if (error instanceof TransshipError && error.code === 'ENGINE_NOT_FOUND') return undefined
    throw error
  }
}
