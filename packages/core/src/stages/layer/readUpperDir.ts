import { pipeline, type Readable } from 'node:stream'
import {
  type TarEdit,
  type TarEditEntry,
  type TarEditor,
  type TarEditorOptions,
  tarEditStream,
} from '../../archive/tarEditor.js'
import { encodeTarHeader } from '../../archive/tarWriter.js'
import type { EngineClient } from '../../engine/client.js'
import { withHelperContainer } from '../../engine/helperContainer.js'
import { TransshipError } from '../../errors.js'
import type { LayerChange } from './containerChanges.js'
import {
  bare,
  baseOf,
  dirOf,
  type ExcludedPaths,
  OPAQUE_WHITEOUT,
  shown,
  WHITEOUT_PREFIX,
  whiteoutOf,
} from './layerPaths.js'

/** Where a helper container mounts a writable layer's directory; archives are rooted there. */
export const LAYER_MOUNT = '/layer'
const ROOT = `${LAYER_MOUNT.slice(1)}/`

/** What {@link withUpperDirLayer} reads. */
export interface UpperDirLayerOptions {
  /** An image the engine holds, for the helper container. */
  readonly image: string
  /** The container's `GraphDriver.Data.UpperDir`. */
  readonly upperDir: string
  /** What the layer is, for messages, e.g. `the layer of web`. */
  readonly describe: string
  /** What `docker diff` lists for the container (excluded paths left out). */
  readonly changes: readonly LayerChange[]
  readonly excluded: ExcludedPaths
  /** Reports what cannot be carried. */
  readonly warn: (message: string) => void
  readonly signal: AbortSignal
  /**
   * When the layer's `.wh.` files say they were made, in seconds since the epoch (default:
   * now): the same value reads the same layer twice byte for byte.
   */
  readonly whiteoutMtime?: number
}

/**
 * Reads an overlay2 writable layer (its UpperDir, bind-mounted read-only into a created,
 * never-started helper container) as a Docker image layer, and hands the stream to `use`.
 * The engine's archive of the directory is edited on the way, headers only: names lose the
 * mount's prefix, excluded paths are dropped, overlayfs whiteouts (0:0 character devices)
 * become `.wh.` files. The opaque mark of a directory deleted and re-created is lost in
 * that archive; `docker diff` lists the image's entries it hides as deleted, so each such
 * path gets a `.wh.` file at the end of the layer (or a directory that `docker diff` calls
 * deleted although the layer holds it gets `.wh..wh..opq`).
 *
 * @param engine - the engine.
 * @param options - helper image, UpperDir, changes, exclusions.
 * @param use - stores the stream; the helper is removed once it returns.
 * @return what `use` returns.
 */
export async function withUpperDirLayer<T>(
  engine: EngineClient,
  options: UpperDirLayerOptions,
  use: (layer: Readable) => Promise<T>,
): Promise<T> {
  const { signal } = options
  const mounts = [
    { Type: 'bind' as const, Source: options.upperDir, Target: LAYER_MOUNT, ReadOnly: true },
  ]
  return withHelperContainer(
    engine,
    { image: options.image, purpose: `read ${options.describe}`, mounts, signal },
    async (helper) => {
      const archive = await engine.call(`read ${options.describe}`, () =>
        helper.getArchive({ path: LAYER_MOUNT, abortSignal: signal }),
      )
      const edit = tarEditStream(upperDirConversion(options), options.describe)
      try {
        return await use(pipeline(archive, edit, () => {}))
      } finally {
        ;(archive as Readable).destroy()
      }
    },
  )
}

/**
 * The edit that turns the engine's archive of an UpperDir (mounted at {@link LAYER_MOUNT})
 * into an image layer; see {@link withUpperDirLayer}.
 *
 * @param options - the changes, exclusions, and where warnings go.
 * @return the edit and the members to append, for a {@link TarEditor}.
 */
export function upperDirConversion(options: ConversionOptions): TarEditorOptions {
  const conversion = new UpperDirConversion(options)
  return { edit: (entry) => conversion.edit(entry), append: () => conversion.append() }
}

/** What the edit of an UpperDir archive needs. */
export type ConversionOptions = Pick<
  UpperDirLayerOptions,
  'describe' | 'changes' | 'excluded' | 'warn' | 'whiteoutMtime'
>

/** The edit of an UpperDir archive into an image layer, member by member. */
class UpperDirConversion {
  readonly #options: ConversionOptions
  /** Paths `docker diff` lists as deleted, until the layer shows how it deletes them. */
  readonly #deleted: Set<string>
  /** Directories of the layer: a whiteout may only go into one of them. */
  readonly #directories = new Set<string>()
  /** Paths dropped from the layer: a hard link to one cannot be carried. */
  readonly #dropped = new Set<string>()
  /** Whiteouts of the UpperDir. */
  readonly #whiteouts = new Set<string>()
  /** Deleted paths whose names the engine could not report. */
  readonly #unreported: string[] = []

  constructor(options: ConversionOptions) {
    this.#options = options
    this.#deleted = new Set()
    for (const change of options.changes) {
      if (change.kind !== 'D') continue
      if (change.reported) this.#deleted.add(change.path)
      else this.#unreported.push(change.path)
    }
  }

  edit(entry: TarEditEntry): TarEdit {
    if (entry.name !== ROOT && !entry.name.startsWith(ROOT)) {
      throw new TransshipError(
        'LAYER_UNREADABLE',
        `${this.#options.describe}: the engine's archive holds ${JSON.stringify(entry.name)}, outside ${LAYER_MOUNT}`,
      )
    }
    const name = entry.name.slice(ROOT.length)
    const path = bare(name)
    if (path === '' || path === '.') return { action: 'drop' }
    const target =
      entry.type === '1' && entry.linkname.startsWith(ROOT) ? entry.linkname.slice(ROOT.length) : ''
    // The kernel may make whiteouts hard links of one inode: the engine's archive then
    // holds the first as a character device and the others as hard links to it.
    const whiteout =
      (entry.type === '3' && entry.devmajor === 0 && entry.devminor === 0) ||
      (entry.type === '1' && this.#whiteouts.has(bare(target)))
    if (whiteout) this.#whiteouts.add(path)
    if (this.#options.excluded.covers(path)) return this.#drop(path)
    if (baseOf(path).startsWith(WHITEOUT_PREFIX)) {
      this.#options.warn(
        `${shown(path)} is not carried: image layers read a name starting with ${WHITEOUT_PREFIX} as a deletion`,
      )
      return this.#drop(path)
    }
    if (whiteout) {
      this.#deleted.delete(path)
      // As the engine writes an overlay2 whiteout into an image layer.
      return {
        action: 'rewrite',
        name: whiteoutOf(path),
        type: '0',
        linkname: '',
        mode: 0o600,
        devmajor: 0,
        devminor: 0,
      }
    }
    if (entry.type === '1') {
      if (this.#dropped.has(bare(target)) || target === '') {
        this.#options.warn(
          `${shown(path)} is not carried: it is a hard link to ${shown(target)}, which is not carried`,
        )
        return this.#drop(path)
      }
      return { action: 'rewrite', name, linkname: target }
    }
    if (entry.type === '5') {
      this.#directories.add(path)
      if (this.#deleted.delete(path)) {
        // `docker diff` calls it deleted, yet it is here: a directory deleted and re-created,
        // listed as overlayfs' own diff lists an opaque directory.
        return { action: 'replace', blocks: [this.#directory(entry, name), this.#opaque(name)] }
      }
    }
    return { action: 'rewrite', name }
  }

  append(): Buffer[] {
    if (this.#unreported.length > 0) {
      this.#options.warn(
        `docker diff reports ${this.#unreported.length} deleted path(s) whose names are not valid UTF-8 (${this.#unreported.map(shown).join(', ')}): ` +
          'those the layer does not delete itself (entries hidden by a re-created directory) may show through again',
      )
    }
    const whiteouts: Buffer[] = []
    const mtime = this.#options.whiteoutMtime ?? Math.floor(Date.now() / 1000)
    for (const path of this.#deleted) {
      const parent = bare(dirOf(path))
      if (parent !== '' && !this.#directories.has(parent)) {
        this.#options.warn(
          `the deletion of ${shown(path)} is not carried: the layer does not hold its directory`,
        )
        continue
      }
      whiteouts.push(encodeTarHeader({ name: whiteoutOf(path), type: '0', mode: 0o600, mtime }))
    }
    return whiteouts
  }

  #drop(path: string): TarEdit {
    this.#dropped.add(path)
    return { action: 'drop' }
  }

  #directory(entry: TarEditEntry, name: string): Buffer {
    const pax = new Map(entry.pax)
    pax.delete('path')
    pax.delete('linkpath')
    return encodeTarHeader({ ...entry, name, type: '5', size: 0, linkname: '', pax })
  }

  #opaque(directory: string): Buffer {
    return encodeTarHeader({ name: `${directory}${OPAQUE_WHITEOUT}`, type: '0', mode: 0o600 })
  }
}
