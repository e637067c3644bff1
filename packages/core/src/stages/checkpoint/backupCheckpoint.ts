import { type Readable, Transform, type TransformCallback } from 'node:stream'
import { TarScanner } from '../../archive/tarScanner.js'
import type { EngineClient } from '../../engine/client.js'
import { withHelperContainer } from '../../engine/helperContainer.js'
import { TransshipError } from '../../errors.js'
import type { Artifact } from '../../manifest/schema.js'
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
    const directory = checkpointsDirOf(await engine.info(), source.id)
    let tcpEstablished = false
    const artifact = await withHelperContainer(
      engine,
      {
        image: source.imageId,
        purpose: `read checkpoint ${checkpoint.name}`,
        mounts: [checkpointsMount(directory, true)],
        signal,
      },
      async (helper): Promise<Artifact> => {
        const archive = (await engine.call(`read checkpoint ${checkpoint.name}`, () =>
          helper.getArchive({
            path: `${CHECKPOINTS_MOUNT}/${checkpoint.name}`,
            abortSignal: signal,
          }),
        )) as Readable
        return storeArtifact(
          {
            transport,
            backupId: source.backupId,
            key: checkpoint.artifact,
            kind: 'checkpoint',
            label: 'checkpoint',
            source: archive,
            through: [
              entryNames((name) => {
                if (TCP_STREAM_IMAGE.test(name)) tcpEstablished = true
              }),
            ],
          },
          context,
        )
      },
    )
    return {
      ...state,
      artifacts: [...state.artifacts, artifact],
      checkpoint: { ...checkpoint, tcpEstablished },
    }
  })
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
