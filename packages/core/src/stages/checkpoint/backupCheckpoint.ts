import { pipeline, type Readable, Transform, type TransformCallback } from 'node:stream'
import { TarScanner } from '../../archive/tarScanner.js'
import type { EngineClient } from '../../engine/client.js'
import { withHelperContainer } from '../../engine/helperContainer.js'
import { TransshipError } from '../../errors.js'
import type { CheckpointRecord, SourceContainer } from '../../manifest/schema.js'
import { defineStage } from '../../pipeline/stage.js'
import type { Transport } from '../../transport/contract.js'
import { requireSource } from '../require.js'
import { storeArtifact } from '../storeArtifact.js'
import { CHECKPOINTS_MOUNT, checkpointsDirOf, checkpointsMount } from './checkpointFiles.js'

/** Options of {@link backupCheckpoint}. */
export interface BackupCheckpointOptions {
  /** The source engine. */
  readonly engine: EngineClient
  /** Where the checkpoint goes. */
  readonly transport: Transport
}

/** CRIU's image file of one established TCP connection's state. */
const TCP_STREAM_IMAGE = /(^|\/)tcp-stream-[0-9a-f]+\.img$/

/**
 * Stage `backup-checkpoint`: streams the checkpoint {@link checkpointSource} took, the
 * directory of CRIU's image files, as one tar artifact (`checkpoint.tar`) into the
 * transport, hashing it on the way. The directory is read through the archive API of a
 * created, never-started helper container that bind-mounts the source's checkpoints
 * directory read-only. Whether the checkpoint holds established TCP connections is
 * recorded, for the restore. A state without a checkpoint (a stopped source, a cold
 * pipeline) passes unchanged.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine, container: 'web' }),
 *   checkpointSource({ engine }),
 *   backupCheckpoint({ engine, transport }),
 *   backupVolumes({ engine, transport }),
 *   writeManifest({ transport }),
 * )
 * ```
 *
 * @param options - engine and transport.
 * @return the stage operator.
 */
export function backupCheckpoint(options: BackupCheckpointOptions) {
  return defineStage('backup-checkpoint', async (state, context) => {
    const { signal } = context
    const { engine, transport } = options
    const source = requireSource(state, 'backup-checkpoint')
    const { checkpoint } = state
    if (!checkpoint) return state
    const { result: artifact, tcpEstablished } = await readCheckpoint(
      engine,
      source,
      checkpoint,
      signal,
      (archive) =>
        storeArtifact(
          {
            transport,
            backupId: source.backupId,
            key: checkpoint.artifact,
            kind: 'checkpoint',
            label: 'checkpoint',
            source: archive,
          },
          context,
        ),
    )
    return {
      ...state,
      artifacts: [...state.artifacts, artifact],
      checkpoint: { ...checkpoint, tcpEstablished },
    }
  })
}

/**
 * The backup half of the checkpoint's journey: reads the checkpoint directory from the
 * source's checkpoints directory, through a created, never-started helper container that
 * bind-mounts it read-only, as one tar stream, and hands it to `use`, noting on the way
 * whether it holds established TCP connections. {@link backupCheckpoint} stores it,
 * `copyCheckpoint` puts it at the destination at once.
 *
 * @param engine - the source engine.
 * @param source - the source container.
 * @param checkpoint - the checkpoint {@link checkpointSource} took.
 * @param signal - aborts the read.
 * @param use - consumes the stream; the helper is removed once it returns.
 * @return what `use` returned, and whether the checkpoint holds established TCP connections.
 * @throws TransshipError `CHECKPOINT_FAILED` (as the stream's error) when the engine's
 *   archive cannot be read.
 */
export async function readCheckpoint<T>(
  engine: EngineClient,
  source: SourceContainer,
  checkpoint: CheckpointRecord,
  signal: AbortSignal,
  use: (archive: Readable) => Promise<T>,
): Promise<{ readonly result: T; readonly tcpEstablished: boolean }> {
  const directory = checkpointsDirOf(await engine.info(), source.id)
  let tcpEstablished = false
  const result = await withHelperContainer(
    engine,
    {
      image: source.imageId,
      purpose: `read checkpoint ${checkpoint.name}`,
      mounts: [checkpointsMount(directory, true)],
      signal,
    },
    async (helper) => {
      const archive = (await engine.call(`read checkpoint ${checkpoint.name}`, () =>
        helper.getArchive({
          path: `${CHECKPOINTS_MOUNT}/${checkpoint.name}`,
          abortSignal: signal,
        }),
      )) as Readable
      const names = entryNames((name) => {
        if (TCP_STREAM_IMAGE.test(name)) tcpEstablished = true
      })
      try {
        return await use(pipeline(archive, names, () => {}))
      } finally {
        archive.destroy()
      }
    },
  )
  return { result, tcpEstablished }
}

/** A pass-through stream over a tar archive that reports each entry's name. */
function entryNames(onName: (name: string) => void): Transform {
  const scanner = new TarScanner((entry) => onName(entry.name))
  const forward = (stream: Transform, parts: Buffer[]) => {
    for (const part of parts) stream.push(part)
  }
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        forward(this, scanner.scan(chunk))
        callback()
      } catch (error) {
        callback(unreadable(error))
      }
    },
    flush(callback: TransformCallback) {
      try {
        forward(this, scanner.end())
        callback()
      } catch (error) {
        callback(unreadable(error))
      }
    },
  })
}

function unreadable(error: unknown): TransshipError {
  return new TransshipError(
    'CHECKPOINT_FAILED',
    `the engine gave the checkpoint as an archive that cannot be read: ${String(error)}`,
    { cause: error },
  )
}
