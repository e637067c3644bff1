import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import createDebug from 'debug'
import { pack } from 'tar-stream'
import { type EngineClient, shortId } from '../../engine/client.js'
import { withHelperContainer } from '../../engine/helperContainer.js'
import { putArchive } from '../../engine/putArchive.js'
import { messageOf } from '../../errors.js'
import { CHECKPOINTS_MOUNT, checkpointsMount } from './checkpointFiles.js'

const debug = createDebug('transship:checkpoint')

/** Docker 20.10 (API 1.41) and older refuse `checkpoint-dir` on start. */
const LAST_API_REFUSING_CHECKPOINT_DIR = '1.41'
/**
 * Docker 20.10 uploads the checkpoint directory to containerd before each start from it,
 * and fails when containerd still holds the same content ("commit failed: content
 * sha256:…: already exists"): from an earlier upload, or from `checkpoint create` on the
 * same engine, until containerd's garbage collection removes it.
 */
const ALREADY_EXISTS = /already exists/
const CHECKPOINT_DIR_REFUSED = /custom checkpoint ?dir is not supported/i

/** Engines that refused `checkpoint-dir` once in this process: not asked again. */
const refusing = new WeakSet<EngineClient>()

/** Options of {@link startFromCheckpoint}. */
export interface StartFromCheckpointOptions {
  /**
   * The container's own checkpoints directory (`<DockerRootDir>/containers/<id>/
   * checkpoints`), which holds the checkpoint as `<dir>/<name>`. Passed as `checkpoint-dir`
   * where the engine takes it (Docker 20.10 refuses it: "custom checkpointdir is not
   * supported", and restores from that same directory).
   */
  readonly checkpointDir?: string
  /**
   * Whether to pass `checkpoint-dir`: by default only to engines newer than API 1.41 (see
   * {@link takesCheckpointDir}; the engine's version is asked when this is not given).
   */
  readonly passCheckpointDir?: boolean
  /**
   * An image the engine holds, for a helper container that adds a marker file to the
   * checkpoint directory (with `checkpointDir`) when the start fails twice with "already
   * exists": its content, and so its digest, is then new to containerd. CRIU reads only
   * its own image files.
   */
  readonly helperImage?: string
}

/**
 * Starts a container from one of its checkpoints: the checkpoint goes in the query string
 * (Docker refuses a start with a body), and a custom checkpoint directory is used where
 * the engine takes one. A start that Docker 20.10 fails with "content sha256:… already
 * exists" is repeated once, then once more with a marker file in the checkpoint directory
 * (given `checkpointDir` and `helperImage`).
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
 * @param options - where the checkpoint is.
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
  const passDir =
    checkpointDir !== undefined &&
    !refusing.has(engine) &&
    (options.passCheckpointDir ?? takesCheckpointDir((await engine.version()).ApiVersion))
  if (!passDir) {
    await startPersistently(engine, id, checkpoint, undefined, mark)
    return
  }
  try {
    await startPersistently(engine, id, checkpoint, checkpointDir, mark)
  } catch (error) {
    if (!CHECKPOINT_DIR_REFUSED.test(messageOf(error))) throw error
    debug('%s: refuses checkpoint-dir on start; using the container’s own directory', engine.url)
    refusing.add(engine)
    await startPersistently(engine, id, checkpoint, undefined, mark)
  }
}

async function startPersistently(
  engine: EngineClient,
  id: string,
  checkpoint: string,
  checkpointDir: string | undefined,
  mark: (() => Promise<void>) | undefined,
): Promise<void> {
  const query = {
    checkpoint,
    ...(checkpointDir === undefined ? {} : { 'checkpoint-dir': checkpointDir }),
  }
  const start = () =>
    engine.call(`start container ${shortId(id)} from checkpoint ${checkpoint}`, (docker) =>
      docker.getContainer(id).start({ _query: query, _body: {} }),
    )
  for (let attempt = 1; ; attempt++) {
    try {
      await start()
      return
    } catch (error) {
      const last = attempt === 3 || (attempt === 2 && !mark)
      if (!ALREADY_EXISTS.test(messageOf(error)) || last) throw error
      if (attempt === 2 && mark) {
        debug('%s: start from checkpoint hit "already exists" twice: marking it', engine.url)
        await mark()
      } else {
        debug('%s: start from checkpoint hit "already exists": once more', engine.url)
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

/**
 * @param apiVersion - the engine's API version (`GET /version`).
 * @return whether an engine of that version may take `checkpoint-dir` on start: Docker
 *   20.10 (API 1.41) and older refuse it.
 */
export function takesCheckpointDir(apiVersion: string): boolean {
  return compareVersions(apiVersion, LAST_API_REFUSING_CHECKPOINT_DIR) > 0
}

/** Compares dotted version numbers: negative, zero or positive. */
function compareVersions(a: string, b: string): number {
  const left = a.split('.').map(Number)
  const right = b.split('.').map(Number)
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0)
    if (difference !== 0) return difference
  }
  return 0
}
