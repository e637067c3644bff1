import { performance } from 'node:perf_hooks'
import type { EngineClient } from '../../engine/client.js'
import {
  EXPERIMENTAL_OFF_HELP,
  NON_ROOT_CHECKPOINT_HELP,
  restoreDefectOf,
} from '../../engine/hostLimits.js'
import { messageOf, TransshipError } from '../../errors.js'
import { undo } from '../../ledger/undoSteps.js'
import type { CheckpointRecord, SourceContainer } from '../../manifest/schema.js'
import { defineStage } from '../../pipeline/stage.js'
import { requireSource } from '../require.js'
import { CHECKPOINT_ARTIFACT, checkpointNameFor, NO_CHECKPOINT_FLAG } from './checkpointFiles.js'
import { diagnoseCriuFailure, TCP_ESTABLISHED_HELP } from './criuLog.js'

/** Options of {@link checkpointSource}. */
export interface CheckpointSourceOptions {
  /** The source engine. */
  readonly engine: EngineClient
  /**
   * The destination engine, when the pipeline restores there: it must be able to start a
   * container from a checkpoint too (experimental mode, an engine version without a known
   * restore defect), checked before anything stops.
   */
  readonly destination?: EngineClient
}

/** Namespaces a container can share with another one, which is not migrated with it. */
const SHARED_NAMESPACES = [
  ['NetworkMode', 'network'],
  ['PidMode', 'PID'],
  ['IpcMode', 'IPC'],
] as const

const COLD = `migrate it with ${NO_CHECKPOINT_FLAG} (stopped, copied and started again: its processes restart)`

/**
 * Stage `checkpoint`: freezes the running source container and saves its processes with
 * CRIU through the engine's checkpoint API (`docker checkpoint create`, which stops it), so
 * that the target continues from that point; in place of {@link stopSource}. Its restart
 * policy is set to `no` first, so that an engine restart cannot bring a second copy to life.
 *
 * Before anything changes it refuses, with an error that names `--no-checkpoint`, what
 * cannot be checkpointed: an engine (or the destination) without experimental mode, a
 * paused container, one started with `--rm` (Docker would remove it, checkpoint included),
 * one sharing a namespace with another container. What only CRIU can tell (an established
 * TCP connection, a device held open, CRIU missing or broken) fails the checkpoint itself,
 * which leaves the container running; the error then says why, from CRIU's log.
 *
 * Should a later stage fail, the source is started again from its checkpoint, or plainly
 * when that fails, with its restart policy back. A source that is not running is only
 * given restart policy `no`, as {@link stopSource} does: there is nothing to checkpoint.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine: a, container: 'web' }),
 *   checkDestination({ engine: b }),
 *   checkpointSource({ engine: a, destination: b }),
 *   backupCheckpoint({ engine: a, transport }),
 *   backupVolumes({ engine: a, transport }),
 * )
 * ```
 *
 * @param options - the source engine, and the destination's.
 * @return the stage operator.
 * @throws TransshipError `CHECKPOINT_UNAVAILABLE` (experimental mode off),
 *   `CHECKPOINT_UNSUPPORTED` (refused before anything changed), `SOURCE_EXITED` (it exited on
 *   its own since it was inspected; nothing changed), `CHECKPOINT_TCP_ESTABLISHED`,
 *   `CHECKPOINT_FAILED` (CRIU failed; the container keeps running).
 */
export function checkpointSource(options: CheckpointSourceOptions) {
  return defineStage('checkpoint', async (state, { undoable, signal }) => {
    const { engine } = options
    const source = requireSource(state, 'checkpoint')
    const { running } = source
    if (running) await refuseUncheckpointable(options, source)

    const name = checkpointNameFor(source.backupId)
    await undoable(undo.restartSource(engine, source, running ? name : undefined))
    await engine.call(`set restart policy of ${source.name} to no`, (docker) =>
      docker.getContainer(source.id).update({ RestartPolicy: { Name: 'no' } }),
    )
    if (!running) return state

    const [info, version] = await Promise.all([engine.info(), engine.version()])
    const frozenAt = Date.now()
    const started = performance.now()
    try {
      await engine.createCheckpoint(source.id, name, { exit: true })
    } catch (error) {
      throw await checkpointFailure(engine, source, error, signal)
    }
    const checkpoint: CheckpointRecord = {
      name,
      artifact: CHECKPOINT_ARTIFACT,
      frozenAt: new Date(frozenAt).toISOString(),
      durationMs: Math.round(performance.now() - started),
      engine: {
        serverVersion: version.Version,
        apiVersion: version.ApiVersion,
        kernelVersion: version.KernelVersion,
        ...runcCommitOf(info),
      },
    }
    return {
      ...state,
      checkpoint,
      freeze: { by: 'checkpoint', at: frozenAt, durationMs: checkpoint.durationMs },
    }
  })
}

/** Refuses, before anything changes, what cannot be checkpointed or restored elsewhere. */
async function refuseUncheckpointable(
  { engine, destination }: CheckpointSourceOptions,
  source: SourceContainer,
): Promise<void> {
  for (const candidate of destination ? [engine, destination] : [engine]) {
    const info = await candidate.info()
    if (!info.ExperimentalBuild) {
      throw new TransshipError(
        'CHECKPOINT_UNAVAILABLE',
        `cannot checkpoint ${source.name}: engine ${candidate.url} is not in experimental mode ` +
          `(see \`transship doctor\`). ${EXPERIMENTAL_OFF_HELP} Nothing was changed.`,
      )
    }
  }
  const unsupported = (reason: string, remedy = COLD) =>
    new TransshipError(
      'CHECKPOINT_UNSUPPORTED',
      `cannot checkpoint ${source.name} on ${engine.url}: ${reason}; ${remedy}. Nothing was changed.`,
    )
  const inspect = await engine.inspectContainer(source.id)
  if (destination)
    await refuseKnownRestoreDefect(destination, source, inspect.HostConfig.NetworkMode || 'default')
  if (!inspect.State.Running) {
    // It exited on its own since it was inspected (during the pre-copy): not transship's
    // to start again, since a container that exits may be one that keeps failing.
    throw new TransshipError(
      'SOURCE_EXITED',
      `container ${source.name} on ${engine.url} exited on its own (exit code ${inspect.State.ExitCode}) ` +
        'while its data was copied: there are no processes to checkpoint. Nothing was changed on it; ' +
        `start it again (docker start ${source.name}) and migrate it, or ${COLD}`,
    )
  }
  if (inspect.State.Paused) {
    throw unsupported('it is paused', `unpause it first, or ${COLD}`)
  }
  if (inspect.HostConfig.AutoRemove) {
    throw unsupported(
      'it was started with --rm, so Docker removes it, checkpoint included, as soon as it stops',
      're-create it without --rm to migrate it',
    )
  }
  for (const [field, namespace] of SHARED_NAMESPACES) {
    const mode = (inspect.HostConfig as Record<string, unknown>)[field]
    if (typeof mode === 'string' && mode.startsWith('container:')) {
      throw unsupported(
        `it shares the ${namespace} namespace of container ${mode.slice('container:'.length)}, which is not migrated with it`,
      )
    }
  }
}

/** Refuses a destination whose engine version is known to fail this container's restore. */
async function refuseKnownRestoreDefect(
  destination: EngineClient,
  source: SourceContainer,
  networkMode: string,
): Promise<void> {
  const { Version } = await destination.version()
  const defect = restoreDefectOf(Version)
  if (!defect?.affects(networkMode)) return
  throw new TransshipError(
    'CHECKPOINT_UNSUPPORTED',
    `cannot migrate ${source.name} with its checkpoint: the destination ${destination.url} runs ` +
      `Docker ${Version}. ${defect.explanation} Nothing was changed.`,
  )
}

/** The error of a failed checkpoint, explained from CRIU's log when the engine names it. */
async function checkpointFailure(
  engine: EngineClient,
  source: SourceContainer,
  error: unknown,
  signal: AbortSignal,
): Promise<unknown> {
  if (signal.aborted) return error
  const message = messageOf(error)
  if (!/criu|runc/i.test(message)) return error
  const diagnosis = await diagnoseCriuFailure(engine, source.imageId, error, signal)
  // Explaining a failure must not fail: an engine that does not answer leaves it unknown.
  const stillRuns = await engine.inspectContainer(source.id).then(
    (inspect) => inspect.State.Running,
    () => undefined,
  )
  const state =
    stillRuns === undefined
      ? `Whether it still runs is unknown: ${engine.url} did not answer`
      : stillRuns
        ? 'It keeps running, untouched'
        : 'It stopped: it is started again (see below)'
  const where = diagnosis.logPath ? ` (CRIU's log: ${diagnosis.logPath} on ${engine.url})` : ''
  const head = `could not checkpoint ${source.name} on ${engine.url}: ${diagnosis.summary}${where}. ${state}.`
  switch (diagnosis.cause) {
    case 'tcp-established':
      return new TransshipError(
        'CHECKPOINT_TCP_ESTABLISHED',
        `${head} ${TCP_ESTABLISHED_HELP} Or ${COLD}.`,
        { cause: error },
      )
    case 'device':
      return new TransshipError(
        'CHECKPOINT_FAILED',
        `${head} Let it close the device first, or ${COLD}.`,
        { cause: error },
      )
    case 'non-root':
      return new TransshipError('CHECKPOINT_FAILED', `${head} ${NON_ROOT_CHECKPOINT_HELP}`, {
        cause: error,
      })
    case 'criu-missing':
      return new TransshipError(
        'CHECKPOINT_FAILED',
        `${head} Install CRIU 4.2 or later there and run \`transship doctor --host ${engine.url}\`, or ${COLD}.`,
        { cause: error },
      )
    default:
      return new TransshipError(
        'CHECKPOINT_FAILED',
        `${head} Check CRIU with \`transship doctor --host ${engine.url}\`, or ${COLD}.`,
        { cause: error },
      )
  }
}

function runcCommitOf(info: { readonly [field: string]: unknown }): { runcCommit?: string } {
  const commit = (info.RuncCommit as { ID?: unknown } | undefined)?.ID
  return typeof commit === 'string' && commit !== '' ? { runcCommit: commit } : {}
}
