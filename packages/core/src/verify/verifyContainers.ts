import type Dockerode from 'dockerode'
import type { EngineClient } from '../engine/client.js'
import { helperProgramFor } from '../engine/helperProcess.js'
import { TransshipError } from '../errors.js'
import { type ChangedAfter, changedAfter } from './changedAfter.js'
import { compareTrees, type PathDifference } from './compareTrees.js'
import { type ContainerSide, containerTrees, type TreePair } from './containerTrees.js'
import { listTree } from './listTree.js'

/** What {@link verifyContainers} compares. */
export interface VerifyOptions {
  /** The source's engine, where the source is stopped (frozen). */
  readonly source: EngineClient
  /** The target's engine. */
  readonly destination: EngineClient
  /** The source container: name or id. */
  readonly container: string
  /** The target container: name or id (default: the source's name). */
  readonly target?: string
  /** The volumes to compare, by mount point (default: every volume of either container). */
  readonly mountPoints?: readonly string[]
  /**
   * How the layer was copied: `tree` (default), by the helper program, all of it kept;
   * `image-layer`, through the engine's archive API as a Docker image layer, which keeps
   * mtimes to the second and has no entry for the root: only that is compared.
   */
  readonly layerCopiedAs?: 'tree' | 'image-layer'
  readonly signal?: AbortSignal
}

/** One container and where it is, as a verification names it. */
export interface VerifiedContainer {
  readonly engine: string
  readonly id: string
  readonly name: string
}

/** A tree a verification compared, or could not. */
export interface VerifiedTree {
  readonly kind: TreePair['kind']
  /** The volume's mount point; `/` for the layer. */
  readonly mountPoint: string
  readonly sourceVolume?: string
  readonly targetVolume?: string
  /** Entries listed on each side, when compared. */
  readonly entries?: { readonly source: number; readonly target: number }
  /** Why it was not compared. */
  readonly unverifiable?: string
}

/** A path that differs, and which tree it is in. */
export interface TreeDifference extends PathDifference {
  readonly tree: TreePair['kind']
  readonly mountPoint: string
  /** The path as the container sees it: `/data/file`, `/etc/app.conf` (UTF-8 text). */
  readonly shown: string
}

/** What {@link verifyContainers} found. */
export interface Verification {
  readonly source: VerifiedContainer
  readonly target: VerifiedContainer & {
    /**
     * From when on the target's changes are its own (its last start), and how that is
     * known (see `changedAfter`); absent when it never started.
     */
    readonly changedAfter?: Omit<ChangedAfter, 'at'>
  }
  readonly trees: readonly VerifiedTree[]
  /** What differs, the target's own changes since it started left out: any fails. */
  readonly differences: readonly TreeDifference[]
  /** What the running target changed since it started: listed, not counted. */
  readonly changedByTarget: readonly TreeDifference[]
}

/**
 * Compares a stopped source container's volumes and layer with its target's, path by path
 * (see {@link compareTrees}): each volume matched by mount point, and the container layer
 * (overlay2 UpperDirs). Trees are listed by transship's helper program in read-only helper
 * containers (content hashed there, nothing of it read here), source and target at the
 * same time. A target that has started may have changed its trees since: what it changed
 * after its last start (by ctime) is listed apart in `changedByTarget`.
 *
 * ## Example
 * ```ts
 * const found = await verifyContainers({ source: a, destination: b, container: 'web' })
 * if (found.differences.length > 0) process.exitCode = 1
 * ```
 *
 * @param options - engines and containers.
 * @return the comparison.
 * @throws TransshipError `CONTAINER_NOT_FOUND` (either container), `SOURCE_RUNNING` (the
 *   source is not frozen), `HELPER_MISSING` (no helper program for an engine), the
 *   helpers' errors.
 */
export async function verifyContainers(options: VerifyOptions): Promise<Verification> {
  const signal = options.signal ?? new AbortController().signal
  const source = await sideOf(options.source, options.container, 'source')
  const target = await sideOf(
    options.destination,
    options.target ?? source.inspect.Name.replace(/^\//, ''),
    'target',
  )
  if (source.inspect.State.Running || source.inspect.State.Paused) {
    throw new TransshipError(
      'SOURCE_RUNNING',
      `container ${nameOf(source.inspect)} on ${source.engine.url} runs: verify compares the source's frozen state, stop it first`,
    )
  }
  const since = await changedAfter(target.engine, target.inspect, signal)
  const trees: VerifiedTree[] = []
  const differences: TreeDifference[] = []
  const changedByTarget: TreeDifference[] = []
  for (const pair of containerTrees(source, target, options.mountPoints)) {
    const names = {
      ...(pair.sourceVolume ? { sourceVolume: pair.sourceVolume } : {}),
      ...(pair.targetVolume ? { targetVolume: pair.targetVolume } : {}),
    }
    const tree = { kind: pair.kind, mountPoint: pair.mountPoint, ...names }
    if (pair.unverifiable) {
      trees.push({ ...tree, unverifiable: pair.unverifiable })
      continue
    }
    const [sourceEntries, targetEntries] = await Promise.all(
      [pair.source, pair.target].map((end) => (end ? listTree(end, signal) : [])),
    )
    const found = compareTrees(sourceEntries ?? [], targetEntries ?? [], {
      ...(since ? { changedAfter: since.at } : {}),
      imageLayer: pair.kind === 'layer' && options.layerCopiedAs === 'image-layer',
    })
    const placed = (d: PathDifference): TreeDifference => ({
      ...d,
      tree: pair.kind,
      mountPoint: pair.mountPoint,
      shown: shownPath(pair.mountPoint, d.path),
    })
    trees.push({
      ...tree,
      entries: { source: sourceEntries?.length ?? 0, target: targetEntries?.length ?? 0 },
    })
    differences.push(...found.differences.map(placed))
    changedByTarget.push(...found.changedByTarget.map(placed))
  }
  return {
    source: containerOf(source),
    target: {
      ...containerOf(target),
      ...(since ? { changedAfter: { time: since.time, from: since.from } } : {}),
    },
    trees,
    differences,
    changedByTarget,
  }
}

/** Inspects a container and finds the helper program for its engine. */
async function sideOf(
  engine: EngineClient,
  container: string,
  role: 'source' | 'target',
): Promise<ContainerSide> {
  const [inspect, program] = await Promise.all([
    engine.inspectContainer(container).catch((error: unknown) => {
      if (error instanceof TransshipError && error.code === 'ENGINE_NOT_FOUND') {
        throw new TransshipError(
          'CONTAINER_NOT_FOUND',
          `no container ${container} on ${engine.url} (the ${role})`,
          { cause: error },
        )
      }
      throw error
    }),
    helperProgramFor(engine),
  ])
  if (program === undefined) {
    throw new TransshipError(
      'HELPER_MISSING',
      `transship's helper program is not built for the architecture of ${engine.url}: verify needs it to read the trees there`,
    )
  }
  return { engine, inspect, program }
}

function nameOf(inspect: Dockerode.ContainerInspectInfo): string {
  return inspect.Name.replace(/^\//, '')
}

function containerOf(side: ContainerSide): VerifiedContainer {
  return { engine: side.engine.url, id: side.inspect.Id, name: nameOf(side.inspect) }
}

/** A tree's path as the container sees it, as text: `data` under `/srv` → `/srv/data`. */
function shownPath(mountPoint: string, path: string): string {
  const text = Buffer.from(path, 'latin1').toString('utf8')
  if (path === '.') return mountPoint
  return `${mountPoint.replace(/\/$/, '')}/${text}`
}
