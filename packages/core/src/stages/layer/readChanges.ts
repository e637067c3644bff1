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

/**
 * How the `changes` method reads what changed: `paths`, each path through the archive API
 * (one request per added directory or changed path); `export`, the whole filesystem once
 * (`docker export`), keeping what changed; `auto`, whichever should be faster.
 */
export type ChangesRead = 'auto' | 'paths' | 'export'

/**
 * What one archive request costs, in bytes of `docker export` read in the same time: about
 * 10 ms of a local engine's archive API at 300-400 MB/s (more over SSH).
 */
export const REQUEST_COST_BYTES = 4 * 1024 * 1024

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
  /** How to read (default `auto`). */
  readonly read?: ChangesRead
  /** The size of the container's image, which `export` reads too (for `auto`). */
  readonly imageSize?: number
  /**
   * When the layer's `.wh.` files say they were made, in seconds since the epoch (default:
   * now): the same value reads the same layer twice byte for byte.
   */
  readonly whiteoutMtime?: number
}

/**
 * A container's layer as a Docker image layer, for any storage driver, from what
 * `docker diff` lists: each path added or changed is read, each deleted one becomes a
 * `.wh.` file at the end.
 *
 * Read path by path (`paths`), through the archive API of the (stopped) container: an
 * added directory whole in one request (all it holds is added too), a changed one for its
 * own header only (what changed in it is listed on its own); names are rooted at the
 * container's root, headers edited and data passed through. Hard links hold only within
 * one request. Read whole (`export`): `docker export` of the container, keeping the
 * members `docker diff` lists, so hard links hold among them; one that links to an
 * unchanged file of the image is read again on its own, as a file. `auto` reads whole
 * when the requests would cost more than reading the image ({@link REQUEST_COST_BYTES}).
 *
 * @param engine - the engine.
 * @param options - the container, its changes, the exclusions, how to read.
 * @return the layer, as chunks of a tar stream.
 */
export async function* changedPathsLayer(
  engine: EngineClient,
  options: ChangedPathsOptions,
): AsyncGenerator<Buffer> {
  const reads: { path: string; whole: boolean }[] = []
  const whole = new Set<string>()
  const wanted = new Set<string>()
  const deleted: string[] = []
  for (const change of options.changes) {
    // What an added directory holds comes with it, whatever its name.
    const inAdded = change.kind !== 'D' && within(whole, change.path)
    if (!inAdded && !change.reported) {
      options.warn(
        `${shown(change.path)} is not carried (${change.kind}): its name is not valid UTF-8, which docker diff cannot report`,
      )
    } else if (change.kind === 'D') {
      deleted.push(change.path)
    } else {
      wanted.add(change.path)
      if (inAdded) continue
      if (change.kind === 'A') whole.add(change.path)
      reads.push({ path: change.path, whole: change.kind === 'A' })
    }
  }
  const read = options.read ?? 'auto'
  const exported =
    read === 'export' ||
    (read === 'auto' && reads.length * REQUEST_COST_BYTES > (options.imageSize ?? 0))
  if (exported) {
    yield* readExport(engine, options, (path) => wanted.has(path) || within(whole, path))
  } else {
    if (reads.length > 1) {
      options.warn(
        `${options.describe} was read path by path (${reads.length} requests): hard links hold only within a directory the container added`,
      )
    }
    for (const { path, whole } of reads) yield* readPath(engine, options, path, whole)
  }
  const mtime = options.whiteoutMtime ?? Math.floor(Date.now() / 1000)
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

/** The members of `docker export` that are `wanted`, then the hard links it could not keep. */
async function* readExport(
  engine: EngineClient,
  options: ChangedPathsOptions,
  wanted: (path: string) => boolean,
): AsyncGenerator<Buffer> {
  const kept = new Set<string>()
  const apart: string[] = []
  const edit = (entry: { type: string; name: string; linkname: string }): TarEdit => {
    const path = bare(entry.name.replace(/^(\.\/)+/, ''))
    if (!wanted(path) || options.excluded.covers(path)) return { action: 'drop' }
    if (baseOf(path).startsWith(WHITEOUT_PREFIX)) return whiteoutName(options, path)
    if (entry.type === '1' && !kept.has(bare(entry.linkname.replace(/^(\.\/)+/, '')))) {
      // A link to a file the layer does not hold: that file's data comes on its own.
      apart.push(path)
      return { action: 'drop' }
    }
    kept.add(path)
    return { action: 'keep' }
  }
  const container = shortId(options.container)
  const archive = (await engine.call(`export container ${container}`, (docker) =>
    docker.getContainer(options.container).export({ abortSignal: options.signal }),
  )) as Readable
  yield* edited(archive, new TarEditor({ edit, terminate: false }), options, 'its export')
  for (const path of apart) yield* readPath(engine, options, path, false)
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
    if (baseOf(name).startsWith(WHITEOUT_PREFIX)) return { ...whiteoutName(options, name), last }
    const linkname = entry.type === '1' ? { linkname: `${prefix}${entry.linkname}` } : {}
    return { action: 'rewrite', name, ...linkname, last }
  }
  const editor = new TarEditor({ edit, terminate: false })
  yield* edited(archive, editor, options, `its archive of ${containerPath}`)
}

/** A file whose name reads as a whiteout in an image layer: dropped, with a warning. */
function whiteoutName(options: ChangedPathsOptions, path: string): TarEdit {
  options.warn(
    `${shown(path)} is not carried: image layers read a name starting with ${WHITEOUT_PREFIX} as a deletion`,
  )
  return { action: 'drop' }
}

/** An engine's archive through an editor, until the editor is done; the archive is closed. */
async function* edited(
  archive: Readable,
  editor: TarEditor,
  options: ChangedPathsOptions,
  what: string,
): AsyncGenerator<Buffer> {
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
      `${options.describe}: cannot read the engine's ${what}: ${error.message}`,
      { cause: error },
    )
  } finally {
    archive.destroy()
  }
}
