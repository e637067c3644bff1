import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { setTimeout as sleep } from 'node:timers/promises'
import createDebug from 'debug'
import { pack } from 'tar-stream'
import { type EngineClient, shortId } from '../../engine/client.js'
import { withHelperContainer } from '../../engine/helperContainer.js'
import { putArchive } from '../../engine/putArchive.js'
import { messageOf } from '../../errors.js'
import { CHECKPOINTS_MOUNT, checkpointsMount } from './checkpointFiles.js'

const debug = createDebug('transship:checkpoint')

/**
 * Docker uploads the checkpoint directory to containerd before each start from it, and
 * fails when containerd still holds the same content ("commit failed: content sha256:…:
 * already exists"): from an earlier upload, or from `checkpoint create` on the same engine,
 * until containerd's garbage collection removes it (moby#42900; half the first starts on
 * 26.1, fewer on 20.10).
 */
const ALREADY_EXISTS = /already exists/
/** On 26.1, a start repeated at once failed again 2 times in 8; one a second later never. */
const RETRY_DELAY_MS = 1000

/** Options of {@link startFromCheckpoint}. */
export interface StartFromCheckpointOptions {
  /**
   * The container's own checkpoints directory (`<DockerRootDir>/containers/<id>/
   * checkpoints`), which holds the checkpoint as `<dir>/<name>`: where the marker goes. No
   * release takes another directory on start (20.10 to 28: "custom checkpointdir is not
   * supported").
   */
  readonly checkpointDir?: string
  /**
   * An image the engine holds, for a helper container that adds a marker file to the
   * checkpoint directory (with `checkpointDir`) when the start fails twice with "already
   * exists": its content, and so its digest, is then new to containerd. CRIU reads only
   * its own image files.
   */
  readonly helperImage?: string
}

/**
 * Starts a container from one of its checkpoints, in its own checkpoints directory (the
 * checkpoint goes in the query string: Docker refuses a start with a body). A start that
 * fails with "content sha256:… already exists" is repeated with a marker file in the
 * checkpoint directory (given `checkpointDir` and `helperImage`), whose content is then new
 * to containerd, else a second later; then once more a second later.
 *
 * ## Example
 * ```ts
 * await startFromCheckpoint(engine, target.id, 'transship-web-20261125T101500Z-3f9a', {
 *   checkpointDir: `${info.DockerRootDir}/containers/${target.id}/checkpoints`,
 *   helperImage: source.imageId,
 * })
 * ```
 *
 * @param engine - the engine.
 * @param id - the container's id.
 * @param checkpoint - the checkpoint's name.
 * @param options - where the checkpoint is, an image for the marker's helper.
 * @throws TransshipError `ENGINE_CALL_FAILED` with the engine's answer when the start fails.
 */
export async function startFromCheckpoint(
  engine: EngineClient,
  id: string,
  checkpoint: string,
  options: StartFromCheckpointOptions = {},
): Promise<void> {
  const { checkpointDir, helperImage } = options
  const mark =
    checkpointDir !== undefined && helperImage !== undefined
      ? () => addCheckpointMarker(engine, helperImage, checkpointDir, checkpoint)
      : undefined
  const start = () =>
    engine.call(`start container ${shortId(id)} from checkpoint ${checkpoint}`, (docker) =>
      docker.getContainer(id).start({ _query: { checkpoint }, _body: {} }),
    )
  for (let attempt = 1; ; attempt++) {
    try {
      await start()
      return
    } catch (error) {
      if (!ALREADY_EXISTS.test(messageOf(error)) || attempt === 3) throw error
      if (attempt === 1 && mark) {
        debug('%s: start from checkpoint hit "already exists": marking it', engine.url)
        await mark()
      } else {
        debug('%s: start from checkpoint hit "already exists": once more, later', engine.url)
        await sleep(RETRY_DELAY_MS)
      }
    }
  }
}

/**
 * Adds a file of random content to a checkpoint directory, through a helper container, so
 * that its upload to containerd is new content. CRIU reads only its own image files.
 *
 * @param engine - the engine.
 * @param image - an image the engine holds, for the helper container.
 * @param checkpointDir - the container's checkpoints directory on the engine's host.
 * @param checkpoint - the checkpoint's name.
 */
export async function addCheckpointMarker(
  engine: EngineClient,
  image: string,
  checkpointDir: string,
  checkpoint: string,
): Promise<void> {
  const archive = pack()
  archive.entry({ name: `${checkpoint}/transship-start-marker`, mode: 0o600 }, randomBytes(16))
  archive.finalize()
  const body = Readable.from([await buffer(archive as unknown as Readable)])
  await withHelperContainer(
    engine,
    {
      image,
      purpose: `mark checkpoint ${checkpoint}`,
      mounts: [checkpointsMount(checkpointDir, false)],
    },
    (helper) =>
      putArchive(engine, helper, body, {
        path: CHECKPOINTS_MOUNT,
        action: `mark checkpoint ${checkpoint}`,
      }),
  )
}
