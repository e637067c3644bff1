import createDebug from 'debug'
import { type EngineClient, shortId } from '../../engine/client.js'
import { messageOf } from '../../errors.js'

const debug = createDebug('transship:checkpoint')

/** Docker 20.10 (API 1.41) and older refuse `checkpoint-dir` on start. */
const LAST_API_REFUSING_CHECKPOINT_DIR = '1.41'
/** Docker 20.10 sometimes fails a start from a copied checkpoint so; once more has worked. */
const ALREADY_EXISTS = /already exists/
const CHECKPOINT_DIR_REFUSED = /custom checkpoint ?dir is not supported/i

/** Engines that refused `checkpoint-dir` once in this process: not asked again. */
const refusing = new WeakSet<EngineClient>()

/** Options of {@link startFromCheckpoint}. */
export interface StartFromCheckpointOptions {
  /**
   * The directory that holds the checkpoint (as `<dir>/<name>`), in the engine's view of its
   * host. Passed as `checkpoint-dir` where the engine takes it; an engine that refuses it
   * (Docker 20.10: "custom checkpointdir is not supported") restores from the container's
   * own checkpoints directory, so the checkpoint must be there too.
   */
  readonly checkpointDir?: string
  /** Whether to pass `checkpoint-dir`: by default only to engines newer than API 1.41. */
  readonly passCheckpointDir?: boolean
}

/**
 * Starts a container from one of its checkpoints: the checkpoint goes in the query string
 * (Docker refuses a start with a body), the start is repeated once when Docker 20.10 fails
 * it with "content sha256:… already exists", and a custom checkpoint directory is used
 * where the engine takes one.
 *
 * ## Example
 * ```ts
 * await startFromCheckpoint(engine, target.id, 'transship-web-20261125T101500Z-3f9a')
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
  const { checkpointDir } = options
  const passDir =
    checkpointDir !== undefined &&
    !refusing.has(engine) &&
    (options.passCheckpointDir ?? (await takesCheckpointDir(engine)))
  if (!passDir) {
    await startOnceMore(engine, id, checkpoint, undefined)
    return
  }
  try {
    await startOnceMore(engine, id, checkpoint, checkpointDir)
  } catch (error) {
    if (!CHECKPOINT_DIR_REFUSED.test(messageOf(error))) throw error
    debug('%s: refuses checkpoint-dir on start; using the container’s own directory', engine.url)
    refusing.add(engine)
    await startOnceMore(engine, id, checkpoint, undefined)
  }
}

async function startOnceMore(
  engine: EngineClient,
  id: string,
  checkpoint: string,
  checkpointDir: string | undefined,
): Promise<void> {
  const query = {
    checkpoint,
    ...(checkpointDir === undefined ? {} : { 'checkpoint-dir': checkpointDir }),
  }
  const start = () =>
    engine.call(`start container ${shortId(id)} from checkpoint ${checkpoint}`, (docker) =>
      docker.getContainer(id).start({ _query: query, _body: {} }),
    )
  try {
    await start()
  } catch (error) {
    if (!ALREADY_EXISTS.test(messageOf(error))) throw error
    debug('%s: start from checkpoint hit "already exists": once more', engine.url)
    await start()
  }
}

async function takesCheckpointDir(engine: EngineClient): Promise<boolean> {
  const { ApiVersion } = await engine.version()
  return compareVersions(ApiVersion, LAST_API_REFUSING_CHECKPOINT_DIR) > 0
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
