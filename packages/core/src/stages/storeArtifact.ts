import { pipeline, type Readable, type Transform } from 'node:stream'
import { hashingStream } from '../archive/hashingStream.js'
import { undo } from '../ledger/undoSteps.js'
import type { Artifact } from '../manifest/schema.js'
import { meter } from '../pipeline/meter.js'
import type { StageContext } from '../pipeline/stage.js'
import type { Transport } from '../transport/contract.js'

/** One artifact to store. */
export interface ArtifactToStore {
  readonly transport: Transport
  readonly backupId: string
  /** Its key in the backup, e.g. `volumes/0.tar`; stored under `<backup id>/<key>`. */
  readonly key: string
  readonly kind: Artifact['kind']
  /** What moves, in progress events, e.g. `volume data`. */
  readonly label: string
  /** The archive, as an engine gives it. */
  readonly source: Readable
  /** Streams it goes through before it is stored (filters, inspectors), in order. */
  readonly through?: readonly Transform[]
}

/**
 * Streams an artifact into the transport, hashing it on the way, with progress events, and
 * records its removal as the stage's undo. The source is destroyed once the transport is
 * done with it, whatever happened.
 *
 * @param artifact - what to store, and where.
 * @param context - the stage's context.
 * @return the artifact as the manifest lists it: key, kind, size and sha256.
 */
export async function storeArtifact(
  artifact: ArtifactToStore,
  { signal, progress, undoable }: StageContext,
): Promise<Artifact> {
  const { transport, source } = artifact
  const key = `${artifact.backupId}/${artifact.key}`
  const hashing = hashingStream()
  const body = pipeline(
    [
      source,
      ...(artifact.through ?? []),
      meter((bytes) => progress(artifact.label, bytes)),
      hashing,
    ],
    () => {},
  ) as unknown as Readable
  await undoStoring(transport, key, undoable)
  try {
    await transport.put(key, body, undefined, { signal })
  } finally {
    source.destroy()
  }
  const { sha256, size } = await hashing.digest()
  return { key: artifact.key, kind: artifact.kind, size, sha256, encoding: 'tar' }
}

/**
 * Records, before something is stored under `key`, its removal as an undo step.
 *
 * @param transport - where it is stored.
 * @param key - its whole key (backup id included).
 * @param undoable - the stage's undo recorder.
 */
export function undoStoring(
  transport: Transport,
  key: string,
  undoable: StageContext['undoable'],
): Promise<void> {
  return undoable(undo.removeArtifact(transport, key))
}
