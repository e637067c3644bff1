import type { Readable } from 'node:stream'
import { type TarEdit, TarEditor } from '../../archive/tarEditor.js'
import { TarFormatError } from '../../archive/tarHeader.js'
import { encodeTarHeader, endOfArchive } from '../../archive/tarWriter.js'
import { type EngineClient, shortId } from '../../engine/client.js'
import { TransshipError } from '../../errors.js'
import type { LayerChange } from './containerChanges.js'
import {
  bare,
  baseOf,
  dirOf,
  type ExcludedPaths,
  shown,
  WHITEOUT_PREFIX,
  whiteoutOf,
} from './layerPaths.js'

/** What {@link changedPathsLayer} reads. */
export interface ChangedPathsOptions {
  /** The (stopped) container. */
  readonly container: string
  /** What the layer is, for messages, e.g. `the layer of web`. */
  readonly describe: string
  /** What `docker diff` lists for the container (excluded paths left out), sorted. */
  readonly changes: readonly LayerChange[]
  readonly excluded: ExcludedPaths
  readonly warn: (message: string) => void
  readonly signal: AbortSignal
}

/**
 * A container's layer as a Docker image layer, for any storage driver: each path
 * `docker diff` lists as added or changed is read through the archive API of the
 * (stopped) container, and each deleted one becomes a `.wh.` file. An added directory is
 * read whole in one request (all it holds is added too); a changed one gives only its own
 * header (what changed in it is listed on its own). The archives are concatenated, their
 * names rooted at the container's root, headers edited and data passed through.
 *
 * @param engine - the engine.
 * @param options - the container, its changes, the exclusions.
 * @return the layer, as chunks of a tar stream.
 */
export async function* changedPathsLayer(
  engine: EngineClient,
  options: ChangedPathsOptions,
): AsyncGenerator<Buffer> {
  const whole = new Set<string>()
  const deleted: string[] = []
  for (const change of options.changes) {
    // What an added directory holds came with it, whatever its name.
    if (change.kind !== 'D' && within(whole, change.path)) continue
    if (!change.reported) {
      options.warn(
        `${shown(change.path)} is not carried (${change.kind}): its name is not valid UTF-8, which docker diff cannot report`,
      )
    } else if (change.kind === 'D') {
      deleted.push(change.path)
    } else {
      if (change.kind === 'A') whole.add(change.path)
      yield* readPath(engine, options, change.path, change.kind === 'A')
    }
  }
  const mtime = Math.floor(Date.now() / 1000)
  for (const path of deleted) {
    yield encodeTarHeader({ name: whiteoutOf(path), type: '0', mode: 0o600, mtime })
  }
  yield endOfArchive()
}

/** Whether `path` is beneath one of `roots`. */
function within(roots: ReadonlySet<string>, path: string): boolean {
  if (roots.size === 0) return false
  for (let slash = path.indexOf('/'); slash !== -1; slash = path.indexOf('/', slash + 1)) {
    if (roots.has(path.slice(0, slash))) return true
  }
  return false
}

/** The members of one path's archive, renamed from its base name to its full path. */
async function* readPath(
  engine: EngineClient,
  options: ChangedPathsOptions,
  path: string,
  whole: boolean,
): AsyncGenerator<Buffer> {
  const { signal, excluded } = options
  const containerPath = shown(path)
  const archive = (await engine.call(
    `read ${containerPath} from container ${shortId(options.container)}`,
    (docker) =>
      docker
        .getContainer(options.container)
        .getArchive({ path: containerPath, abortSignal: signal }),
  )) as Readable
  // The engine names members after the path's base name: `added`, `dir/`, `dir/file`.
  const prefix = dirOf(path)
  const edit = (entry: { type: string; name: string; linkname: string }): TarEdit => {
    const name = `${prefix}${entry.name}`
    if (!whole && bare(name) !== path) {
      throw new TransshipError(
        'LAYER_UNREADABLE',
        `${options.describe}: reading ${containerPath} gave ${shown(name)} first`,
      )
    }
    // A changed directory's own header is all that is wanted of it.
    const last = !whole
    if (excluded.covers(name)) return { action: 'drop', last }
    if (baseOf(name).startsWith(WHITEOUT_PREFIX)) {
      options.warn(
        `${shown(name)} is not carried: image layers read a name starting with ${WHITEOUT_PREFIX} as a deletion`,
      )
      return { action: 'drop', last }
    }
    const linkname = entry.type === '1' ? { linkname: `${prefix}${entry.linkname}` } : {}
    return { action: 'rewrite', name, ...linkname, last }
  }
  const editor = new TarEditor({ edit, terminate: false })
  try {
    for await (const chunk of archive) {
      yield* editor.push(chunk as Buffer)
      if (editor.done) break
    }
    editor.end()
  } catch (error) {
    if (!(error instanceof TarFormatError)) throw error
    throw new TransshipError(
      'LAYER_UNREADABLE',
      `${options.describe}: cannot read the engine's archive of ${containerPath}: ${error.message}`,
      { cause: error },
    )
  } finally {
    archive.destroy()
  }
}
