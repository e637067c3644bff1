import type Dockerode from 'dockerode'
import type { EngineClient } from '../engine/client.js'
import type { TreeEnd } from '../precopy/treeSource.js'
import { upperDirOf } from '../stages/layer/backupLayer.js'
import { ENGINE_FILES } from '../stages/layer/layerPaths.js'
import { volumeTree } from '../stages/volumeTrees.js'

/** One side of a verification: an engine, a container there, the helper program's build. */
export interface ContainerSide {
  readonly engine: EngineClient
  readonly inspect: Dockerode.ContainerInspectInfo
  /** transship's helper program, built for the engine's architecture. */
  readonly program: string
}

/** A tree to compare: a volume (matched by mount point) or the container layer. */
export interface TreePair {
  /** `volume` or `layer`. */
  readonly kind: 'volume' | 'layer'
  /** The volume's mount point; `/` for the layer. */
  readonly mountPoint: string
  /** The tree on each side; absent where that side has none (no volume at that mount point). */
  readonly source?: TreeEnd
  readonly target?: TreeEnd
  /** The volume's name on each side. */
  readonly sourceVolume?: string
  readonly targetVolume?: string
  /** Why it cannot be compared, when it cannot. */
  readonly unverifiable?: string
}

/**
 * The trees to compare between a source container and its target: each volume, matched by
 * mount point (a volume may have another name at the destination), and the container
 * layer, both read-only. Bind and tmpfs mounts are not copied, so not compared. The layer
 * is each container's overlay2 UpperDir, without the mount points of either container and
 * the files the engine writes (/etc/hosts, …); with another storage driver on either side
 * it cannot be compared, and says why.
 *
 * @param source - the source container.
 * @param target - the target container.
 * @param mountPoints - the volumes to compare, by mount point (default: every volume).
 * @return the pairs, volumes by mount point, then the layer.
 */
export function containerTrees(
  source: ContainerSide,
  target: ContainerSide,
  mountPoints?: readonly string[],
): TreePair[] {
  const volumes = (side: ContainerSide) =>
    new Map(
      side.inspect.Mounts.filter((mount) => mount.Type === 'volume' && mount.Name).map((mount) => [
        mount.Destination,
        mount.Name as string,
      ]),
    )
  const sourceVolumes = volumes(source)
  const targetVolumes = volumes(target)
  const wanted =
    mountPoints ?? [...new Set([...sourceVolumes.keys(), ...targetVolumes.keys()])].sort()
  const pairs: TreePair[] = wanted.map((mountPoint) => {
    const names = { source: sourceVolumes.get(mountPoint), target: targetVolumes.get(mountPoint) }
    const tree = (side: ContainerSide, name: string | undefined) =>
      name === undefined
        ? undefined
        : volumeTree(side.engine, side.program, side.inspect.Image, name, true)
    return {
      kind: 'volume',
      mountPoint,
      ...optional('source', tree(source, names.source)),
      ...optional('target', tree(target, names.target)),
      ...optional('sourceVolume', names.source),
      ...optional('targetVolume', names.target),
    }
  })
  return [...pairs, layerPair(source, target)]
}

/** The layers' UpperDirs, each without what either container mounts or the engine writes. */
function layerPair(source: ContainerSide, target: ContainerSide): TreePair {
  const withoutUpperDir = [source, target].find((side) => upperDirOf(side.inspect) === undefined)
  if (withoutUpperDir) {
    const driver = withoutUpperDir.inspect.GraphDriver?.Name ?? 'unknown'
    return {
      kind: 'layer',
      mountPoint: '/',
      unverifiable: `${withoutUpperDir.engine.url} stores containers with the ${driver} storage driver, which has no overlay2 UpperDir to compare`,
    }
  }
  const exclude = [
    ...new Set(
      [...ENGINE_FILES, ...mountPointsOf(source.inspect), ...mountPointsOf(target.inspect)].map(
        (path) => path.replace(/^\/+/, ''),
      ),
    ),
  ].filter((path) => path !== '')
  const upper = (side: ContainerSide): TreeEnd => ({
    engine: side.engine,
    program: side.program,
    image: side.inspect.Image,
    mount: (path) => ({
      Type: 'bind',
      Source: upperDirOf(side.inspect) as string,
      Target: path,
      ReadOnly: true,
    }),
    describe: `the layer of container ${side.inspect.Name.replace(/^\//, '')} on ${side.engine.url}`,
    exclude,
  })
  return { kind: 'layer', mountPoint: '/', source: upper(source), target: upper(target) }
}

/** Every path a container mounts something at: volumes, binds, tmpfs. */
function mountPointsOf(inspect: Dockerode.ContainerInspectInfo): string[] {
  return [
    ...inspect.Mounts.map((mount) => mount.Destination),
    ...Object.keys(inspect.HostConfig.Tmpfs ?? {}),
  ]
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>)
}
