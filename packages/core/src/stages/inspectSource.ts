import type Dockerode from 'dockerode'
import { type EngineClient, shortId } from '../engine/client.js'
import { TransshipError } from '../errors.js'
import type { SkippedMount, SourceContainer, VolumeRecord } from '../manifest/schema.js'
import { defineStage } from '../pipeline/stage.js'
import { newBackupId } from './backupId.js'
import { sourceNetworks } from './sourceNetworks.js'

/** Options of {@link inspectSource}. */
export interface InspectSourceOptions {
  /** The source engine. */
  readonly engine: EngineClient
  /** The container to migrate: name or id. */
  readonly container: string
  /**
   * The volumes whose content is copied, by volume name or mount path; all when absent.
   * The others are re-created at the destination (same name, driver and options) without
   * their content, which suits a volume whose data the destination already reaches.
   */
  readonly volumes?: readonly string[]
  /**
   * The ids of the containers that move with it (a group): a volume they share is not
   * refused as one another running container writes to.
   */
  readonly movingWith?: readonly string[]
}

/**
 * Stage `inspect`: reads the source container, its engine and its mounts. Volumes are
 * to be migrated; bind and tmpfs mounts are recorded, with a warning, but not copied. A
 * selected volume that another running container also uses is refused. Changes nothing.
 *
 * ## Example
 * ```ts
 * startMigration().pipe(inspectSource({ engine, container: 'web', volumes: ['/data'] }))
 * ```
 *
 * @param options - engine, container, volume selection.
 * @return the stage operator.
 * @throws TransshipError `CONTAINER_NOT_FOUND`, or `VOLUME_NOT_FOUND` for a selection that
 *   names no volume of the container, `VOLUME_SHARED` for a volume another running
 *   container uses.
 */
export function inspectSource(options: InspectSourceOptions) {
  return defineStage('inspect', async (state, { warn }) => {
    const { engine } = options
    const info = await engine.info()
    const inspect = await inspectNamed(engine, options.container)
    const name = inspect.Name.replace(/^\//, '')
    const source: SourceContainer = {
      engine: {
        url: engine.url,
        id: info.ID,
        name: info.Name,
        serverVersion: info.ServerVersion,
      },
      id: inspect.Id,
      name,
      image: inspect.Config.Image,
      imageId: inspect.Image,
      running: inspect.State.Running,
      restartPolicy: {
        Name: inspect.HostConfig.RestartPolicy?.Name || 'no',
        MaximumRetryCount: inspect.HostConfig.RestartPolicy?.MaximumRetryCount ?? 0,
      },
      config: { ...inspect.Config },
      hostConfig: { ...inspect.HostConfig },
      networks: await sourceNetworks(engine, inspect),
    }

    const volumes: VolumeRecord[] = []
    const skippedMounts: SkippedMount[] = []
    for (const mount of inspect.Mounts) {
      if (mount.Type === 'volume' && mount.Name) {
        volumes.push(await volumeRecord(engine, inspect, mount))
      } else {
        skippedMounts.push({
          type: mount.Type,
          ...(mount.Source ? { source: mount.Source } : {}),
          destination: mount.Destination,
          readOnly: !mount.RW,
        })
        warn(
          `${mount.Type} mount at ${mount.Destination} is not copied: ${notCopiedBecause(mount)}`,
        )
      }
    }
    for (const [destination] of Object.entries(inspect.HostConfig.Tmpfs ?? {})) {
      skippedMounts.push({ type: 'tmpfs', destination, readOnly: false })
      warn(`tmpfs mount at ${destination} is not copied: its content lives in memory`)
    }

    const selected = selectVolumes(volumes, options.volumes, name)
    await refuseSharedVolumes(engine, [inspect.Id, ...(options.movingWith ?? [])], name, [
      ...selected,
    ])
    for (const volume of volumes.filter((v) => !selected.has(v))) {
      warn(
        `volume ${volume.name} (${volume.destination}) was not selected: it is re-created at the destination without its content`,
      )
    }
    return {
      ...state,
      id: state.id ?? newBackupId(name),
      source,
      volumes: volumes.map((volume, index) =>
        selected.has(volume) ? { ...volume, artifact: `volumes/${index}.tar` } : volume,
      ),
      skippedMounts,
    }
  })
}

/**
 * A container's inspect output, by name or id.
 *
 * @throws TransshipError `CONTAINER_NOT_FOUND`, naming it and the engine.
 */
export function inspectNamed(
  engine: EngineClient,
  container: string,
): Promise<Dockerode.ContainerInspectInfo> {
  return engine.inspectContainer(container).catch((error: unknown) => {
    if (error instanceof TransshipError && error.code === 'ENGINE_NOT_FOUND') {
      throw new TransshipError(
        'CONTAINER_NOT_FOUND',
        `container ${JSON.stringify(container)} not found on ${engine.url}`,
        { cause: error },
      )
    }
    throw error
  })
}

async function volumeRecord(
  engine: EngineClient,
  container: Dockerode.ContainerInspectInfo,
  mount: Dockerode.ContainerInspectInfo['Mounts'][number],
): Promise<VolumeRecord> {
  const name = mount.Name as string
  const volume = await engine.call(`inspect volume ${name}`, (docker) =>
    docker.getVolume(name).inspect(),
  )
  return {
    name,
    anonymous: isAnonymous(name, container),
    driver: volume.Driver,
    labels: volume.Labels ?? {},
    driverOptions: volume.Options ?? {},
    destination: mount.Destination,
    readOnly: !mount.RW,
  }
}

/**
 * Docker names an anonymous volume with 64 hex digits, and the container's configuration
 * never names it (a named volume appears in its binds or mounts).
 */
function isAnonymous(name: string, container: Dockerode.ContainerInspectInfo): boolean {
  if (!/^[0-9a-f]{64}$/.test(name)) return false
  const binds = container.HostConfig.Binds ?? []
  const mounts = (container.HostConfig as { Mounts?: { Source?: string }[] }).Mounts ?? []
  return (
    !binds.some((bind) => bind.split(':')[0] === name) && !mounts.some((m) => m.Source === name)
  )
}

function notCopiedBecause(mount: { Type: string; Source: string }): string {
  switch (mount.Type) {
    case 'bind':
      return `the target mounts the destination host's ${mount.Source}`
    case 'tmpfs':
      return 'its content lives in memory'
    default:
      return 'transship copies volumes only'
  }
}

function selectVolumes(
  volumes: VolumeRecord[],
  selection: readonly string[] | undefined,
  container: string,
): Set<VolumeRecord> {
  if (!selection) return new Set(volumes)
  const selected = new Set<VolumeRecord>()
  for (const wanted of selection) {
    const volume = volumes.find((v) => v.name === wanted || v.destination === wanted)
    if (!volume) {
      throw new TransshipError(
        'VOLUME_NOT_FOUND',
        `container ${container} has no volume named or mounted at ${JSON.stringify(wanted)} (its volumes: ${
          volumes.map((v) => `${v.name} at ${v.destination}`).join(', ') || 'none'
        })`,
      )
    }
    selected.add(volume)
  }
  return selected
}

/**
 * Refuses a volume that another running container also uses, unless that container moves
 * too (`moving`, with the container's own id): it would go on writing while the copy is
 * taken, and keep running on the source without it. Checked before anything stops; the
 * message names the other containers.
 */
async function refuseSharedVolumes(
  engine: EngineClient,
  moving: readonly string[],
  container: string,
  volumes: readonly VolumeRecord[],
): Promise<void> {
  for (const volume of volumes) {
    const users = await engine.call(`list containers using volume ${volume.name}`, (docker) =>
      docker.listContainers({ filters: { volume: [volume.name], status: ['running'] } }),
    )
    const others = users.filter((user) => !moving.includes(user.Id))
    if (others.length === 0) continue
    const names = others.map((other) => other.Names[0]?.replace(/^\//, '') ?? shortId(other.Id))
    throw new TransshipError(
      'VOLUME_SHARED',
      `volume ${volume.name} of container ${container} (${volume.destination}) is also used by running container ${names.join(', ')} on ${engine.url}: ` +
        `it would change while copied and lose a writer; move them together (transship migrate ${container} ${names.join(' ')}), stop it first, or leave the volume out with --volumes`,
    )
  }
}
