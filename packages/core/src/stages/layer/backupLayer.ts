import { Readable } from 'node:stream'
import type Dockerode from 'dockerode'
import type { EngineClient } from '../../engine/client.js'
import { TransshipError } from '../../errors.js'
import type { LayerRecord } from '../../manifest/schema.js'
import { defineStage, type StageContext } from '../../pipeline/stage.js'
import type { MigrationState } from '../../pipeline/state.js'
import type { Transport } from '../../transport/contract.js'
import { requireSource } from '../require.js'
import { storeArtifact } from '../storeArtifact.js'
import { containerChanges, countChanges } from './containerChanges.js'
import { ENGINE_FILES, ExcludedPaths } from './layerPaths.js'
import { type ChangesRead, changedPathsLayer } from './readChanges.js'
import { withUpperDirLayer } from './readUpperDir.js'

/** The layer's artifact key, under the backup's prefix. */
export const LAYER_ARTIFACT = 'layer.tar'
/** What progress events call the layer. */
export const LAYER_LABEL = 'container layer'

/** Options of {@link backupLayer}. */
export interface BackupLayerOptions {
  /** The source engine. */
  readonly engine: EngineClient
  /** Where the artifact goes. */
  readonly transport: Transport
  /**
   * Where the storage driver has no overlay2 UpperDir, how the changes `docker diff`
   * lists are read: `paths`, each through the archive API (a request per added directory
   * or changed path; hard links hold only within an added directory); `export`, the whole
   * filesystem once, keeping what changed (hard links hold; the image's files are read
   * too); `auto` (default), whichever should be faster for the number of requests and the
   * image's size.
   */
  readonly changesRead?: ChangesRead
}

/**
 * Stage `backup-layer`: stores the source container's writable layer, what it added,
 * changed and deleted on its image, as one artifact (`layer.tar`), hashed on its way into
 * the transport. The artifact is a Docker image layer: names relative to the root,
 * deletions as `.wh.` files. Mount points of volumes, bind and tmpfs mounts (with what is
 * beneath them) and the files the engine manages (/etc/hosts, /etc/hostname,
 * /etc/resolv.conf) are left out. Nothing runs inside the container, which must be stopped.
 * A container that changed nothing on its image stores no layer.
 *
 * On overlay2 (`method: 'overlay2'`), the layer is the container's UpperDir, read through a
 * created, never-started helper container that bind-mounts it read-only. Elsewhere (other
 * storage drivers, the containerd image store; `method: 'changes'`), each path
 * `docker diff` lists is read through the container's archive API.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(
 *   inspectSource({ engine, container: 'web' }),
 *   stopSource({ engine }),
 *   backupLayer({ engine, transport }),
 *   writeManifest({ transport }),
 * )
 * ```
 *
 * @param options - engine and transport.
 * @return the stage operator.
 * @throws TransshipError `SOURCE_RUNNING` when the source runs; `LAYER_UNREADABLE` when
 *   the engine's archive is not what it should be.
 */
export function backupLayer(options: BackupLayerOptions) {
  return defineStage('backup-layer', async (state, context) => {
    const { engine, transport } = options
    const source = requireSource(state, 'backup-layer')
    const layer = await sourceLayer(engine, state, context, {
      stage: 'backup-layer',
      ...(options.changesRead ? { changesRead: options.changesRead } : {}),
    })
    // Nothing written on the image: there is no layer to carry, and restore-layer skips it.
    if (!layer) return state
    const artifact = await layer.read((stream) =>
      storeArtifact(
        {
          transport,
          backupId: source.backupId,
          key: LAYER_ARTIFACT,
          kind: 'layer',
          label: LAYER_LABEL,
          source: stream,
        },
        context,
      ),
    )
    const record: LayerRecord = {
      method: layer.method,
      artifact: LAYER_ARTIFACT,
      changes: layer.changes,
    }
    return { ...state, layer: record, artifacts: [...state.artifacts, artifact] }
  })
}

/** A stopped source's container layer, ready to be read: from {@link sourceLayer}. */
export interface SourceLayer {
  /** How it is read: from the overlay2 UpperDir, or from what `docker diff` lists. */
  readonly method: LayerRecord['method']
  /** How many paths it adds, changes and deletes. */
  readonly changes: LayerRecord['changes']
  /**
   * Reads the layer, as a Docker image layer, and hands its tar stream to `use`; a helper
   * container it needs is removed once `use` returns. A second read gives the same bytes
   * (the source is stopped), and repeats no warning.
   */
  read<T>(use: (layer: Readable) => Promise<T>): Promise<T>
}

/** What {@link sourceLayer} is told. */
export interface SourceLayerOptions {
  /** The stage that reads, for messages. */
  readonly stage: string
  /** How the changes are read without an UpperDir (see {@link BackupLayerOptions}). */
  readonly changesRead?: ChangesRead
}

/**
 * The backup half of the layer's journey: finds what the stopped source container changed
 * on its image (mount points and the engine's files left out), and how to read it, as
 * {@link backupLayer} describes; {@link backupLayer} stores it, `copyLayer` writes it into
 * the target at once.
 *
 * @param engine - the source engine.
 * @param state - the migration state, with the source.
 * @param context - the stage's context: its signal, and its warnings.
 * @param options - the stage, how to read changes.
 * @return the layer, or `undefined` when the container changed nothing on its image.
 * @throws TransshipError `SOURCE_RUNNING` when the source runs.
 */
export async function sourceLayer(
  engine: EngineClient,
  state: MigrationState,
  context: StageContext,
  options: SourceLayerOptions,
): Promise<SourceLayer | undefined> {
  const { signal } = context
  const source = requireSource(state, options.stage)
  const inspect = await engine.inspectContainer(source.id)
  if (inspect.State.Running || inspect.State.Paused) {
    throw new TransshipError(
      'SOURCE_RUNNING',
      `${options.stage} needs container ${source.name} on ${engine.url} stopped: put stopSource before it`,
    )
  }
  const excluded = new ExcludedPaths(excludedPaths(state, inspect))
  const changes = await containerChanges(engine, source.id, excluded, signal)
  if (changes.length === 0) return undefined
  const warned = new Set<string>()
  const warn = (message: string) => {
    if (warned.has(message)) return
    warned.add(message)
    context.warn(message)
  }
  const describe = `the layer of container ${source.name} on ${engine.url}`
  // The same whiteouts on every read.
  const whiteoutMtime = Math.floor(Date.now() / 1000)
  const read = { describe, changes, excluded, warn, signal, whiteoutMtime }
  const counts = countChanges(changes)
  const upperDir = upperDirOf(inspect)
  if (upperDir !== undefined) {
    return {
      method: 'overlay2',
      changes: counts,
      read: (use) => withUpperDirLayer(engine, { image: source.imageId, upperDir, ...read }, use),
    }
  }
  const image = await engine.call(`inspect image ${source.imageId}`, (docker) =>
    docker.getImage(source.imageId).inspect(),
  )
  warn(
    `the ${inspect.GraphDriver?.Name ?? 'unknown'} storage driver of ${engine.url} exposes no overlay2 UpperDir: ` +
      'the layer was read from what docker diff lists, through the archive API',
  )
  return {
    method: 'changes',
    changes: counts,
    read: (use) => {
      const layer = changedPathsLayer(engine, {
        container: source.id,
        ...read,
        read: options.changesRead ?? 'auto',
        imageSize: image.Size,
      })
      return use(Readable.from(layer))
    },
  }
}

/**
 * What the layer leaves out: mount points, from the state and from the engine, and the
 * engine's files, as absolute container paths.
 *
 * @param state - the migration state (volumes, skipped mounts).
 * @param inspect - the source container.
 * @return the paths.
 */
export function excludedPaths(
  state: MigrationState,
  inspect: Dockerode.ContainerInspectInfo,
): string[] {
  return [
    ...ENGINE_FILES,
    ...state.volumes.map((volume) => volume.destination),
    ...state.skippedMounts.map((mount) => mount.destination),
    ...inspect.Mounts.map((mount) => mount.Destination),
    ...Object.keys(inspect.HostConfig.Tmpfs ?? {}),
  ]
}

/** The container's overlay2 UpperDir, when its storage driver has one. */
export function upperDirOf(inspect: Dockerode.ContainerInspectInfo): string | undefined {
  const driver = inspect.GraphDriver as { Name?: string; Data?: { UpperDir?: string } | null }
  return driver?.Name === 'overlay2' ? driver.Data?.UpperDir || undefined : undefined
}
