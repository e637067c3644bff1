import type Dockerode from 'dockerode'
import { TransshipError } from '../errors.js'
import { runLabels } from '../ledger/runContext.js'
import { type EngineClient, shortId } from './client.js'
import { findImage } from './images.js'

/** Label on every helper container, with its purpose as value: cleanup by label. */
export const HELPER_LABEL = 'transship.helper'

/**
 * Volume mount option: do not copy the image's files at the mount point into an empty
 * volume (the volume's content comes from the source). @types/dockerode marks the other
 * VolumeOptions fields as required; the engine does not.
 */
export const NO_COPY = { NoCopy: true } as Dockerode.MountSettings['VolumeOptions']

/** What a helper container mounts. */
export interface HelperContainerOptions {
  /** An image the engine already holds; nothing is pulled. */
  readonly image: string
  /** What it is for, e.g. `read volume data`: its label value, and in logs. */
  readonly purpose: string
  readonly mounts?: readonly Dockerode.MountSettings[]
  readonly signal?: AbortSignal
}

/**
 * Runs `use` with a created, never-started container whose mounts expose volumes (or host
 * paths) to the archive API, and removes the container afterwards, whatever happens. No
 * process runs in it, so nothing is required inside the image.
 *
 * ## Example
 * ```ts
 * await withHelperContainer(
 *   engine,
 *   { image: 'sha256:…', purpose: 'read volume data',
 *     mounts: [{ Type: 'volume', Source: 'data', Target: '/volume', ReadOnly: true }] },
 *   async (helper) => helper.getArchive({ path: '/volume' }),
 * )
 * ```
 *
 * @param engine - the engine to create it on.
 * @param options - image, purpose, mounts, abort signal.
 * @param use - what to do with it.
 * @return what `use` returns.
 */
export async function withHelperContainer<T>(
  engine: EngineClient,
  options: HelperContainerOptions,
  use: (helper: Dockerode.Container) => Promise<T>,
): Promise<T> {
  const id = await engine.createContainer({
    Image: options.image,
    // Never started: the entrypoint only has to satisfy create.
    Entrypoint: ['/transship-helper-never-runs'],
    Cmd: [],
    Labels: { ...runLabels(), [HELPER_LABEL]: options.purpose },
    NetworkDisabled: true,
    HostConfig: { Mounts: [...(options.mounts ?? [])] },
    ...(options.signal ? { abortSignal: options.signal } : {}),
  })
  try {
    return await use(engine.docker.getContainer(id))
  } finally {
    // v: false: the volumes it mounts are the user's, never the helper's own.
    await engine.call(`remove helper container ${shortId(id)}`, (docker) =>
      docker.getContainer(id).remove({ force: true, v: false }),
    )
  }
}

/**
 * Chooses an image for helper containers: the first of `preferred` the engine holds, else
 * any image it holds, since none may be pulled.
 *
 * @param engine - the engine.
 * @param preferred - image IDs or names, best first (e.g. the migrated container's image).
 * @return an image ID or name the engine holds.
 * @throws TransshipError `HELPER_IMAGE_MISSING` when the engine holds no image at all.
 */
export async function pickHelperImage(
  engine: EngineClient,
  preferred: readonly string[],
): Promise<string> {
  for (const image of preferred) {
    if (await findImage(engine, image)) return image
  }
  const [any] = await engine.listImages()
  if (!any) {
    throw new TransshipError(
      'HELPER_IMAGE_MISSING',
      `engine ${engine.url} holds no image to create a helper container from (none is pulled)`,
    )
  }
  return any.Id
}
