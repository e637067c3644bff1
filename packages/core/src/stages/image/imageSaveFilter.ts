import { Transform, type TransformCallback } from 'node:stream'
import createDebug from 'debug'
import { BLOCK_SIZE, TarFormatError } from '../../archive/tarHeader.js'
import { type TarEntry, TarScanner } from '../../archive/tarScanner.js'
import { messageOf, TransshipError } from '../../errors.js'
import { chainIds, legacyLayerIndex } from './legacyLayerId.js'

const debug = createDebug('transship:image')

/** Small files of the save that are read on the way: a layer directory's `json`, `manifest.json`. */
const MAX_CAPTURED_SIZE = 1024 * 1024
const LAYER_JSON = /^([0-9a-f]{64})\/json$/
const LAYER_TAR = /^([0-9a-f]{64})\/layer\.tar$/
/**
 * A blob of an OCI layout save (Docker 25 and later): named by its digest, which for a layer
 * is its diff ID, since `docker save` writes layers uncompressed.
 */
const OCI_BLOB = /^blobs\/sha256\/([0-9a-f]{64})$/

/** Options of {@link imageSaveFilter}. */
export interface ImageSaveFilterOptions {
  /** The saved image's layers (diff IDs), bottom first, as its `RootFS.Layers` lists them. */
  readonly layers: readonly string[]
  /**
   * How many layers, from the bottom, the destination already holds: their `layer.tar` is
   * left out. 0 passes the save through whole.
   */
  readonly omit: number
  /** What the stream is, for error messages, e.g. `docker save of sha256:… on unix:///…`. */
  readonly describe: string
}

/** The stream {@link imageSaveFilter} makes. */
export interface ImageSaveFilter extends Transform {
  /**
   * The layers (diff IDs) whose data was left out, bottom first: always a bottom part of
   * the image's layers. Complete once the stream has flushed.
   */
  readonly omitted: readonly string[]
}

/**
 * A pass-through stream over a `docker save` archive that leaves out the data of the
 * image's bottom `omit` layers, for a destination that holds them already (its
 * `docker load` then skips them: it opens a layer's file only when it lacks the layer).
 *
 * One pass, nothing held back but the end-of-archive marker. An OCI layout save (Docker 25
 * and later) names each layer's blob by its diff ID. A legacy save (Docker up to 24) writes
 * its entries sorted by name, so each layer directory's `json` comes just before its
 * `layer.tar`, and that file proves which layer the directory holds (see
 * {@link legacyLayerIndex}). In both, manifest.json, which maps paths to layers, comes only
 * after every layer. It is read as it passes and checked against what was left out before
 * the stream ends, so that a save the filter misread fails rather than reaching the
 * transport. A `layer.tar` whose directory was not recognised, or an archive of another
 * layout, is passed on whole: the save is then thicker than it could be, never wrong.
 *
 * ## Example
 * ```ts
 * const filter = imageSaveFilter({ layers: inspect.RootFS.Layers, omit: 1, describe })
 * await pipeline(await saveImage(engine, id), filter, hashing, upload)
 * filter.omitted // ['sha256:bcde…']
 * ```
 *
 * @param options - the image's layers, how many to leave out, a description for errors.
 * @return the stream; `omitted` lists what was left out once it has flushed.
 * @throws TransshipError `IMAGE_SAVE_INVALID` (as the stream's error) when the archive
 *   cannot be followed, or its manifest.json contradicts what was left out.
 */
export function imageSaveFilter(options: ImageSaveFilterOptions): ImageSaveFilter {
  return new ImageSaveFilterStream(options)
}

/** An entry the scanner reported, until its last byte has passed. */
interface Pending {
  readonly entry: TarEntry
  /** Stream offset just past its data's padding. */
  readonly end: number
  /** Whether it is left out; decided when its first byte arrives. */
  drop?: boolean
  /** Its data, when it is read on the way. */
  captured?: Buffer[]
}

class ImageSaveFilterStream extends Transform implements ImageSaveFilter {
  readonly #layers: readonly string[]
  readonly #omit: number
  readonly #describe: string
  readonly #chains: readonly string[]
  /** How many bottom layers an OCI layout save can leave out. */
  readonly #blobOmit: number
  readonly #scanner: TarScanner
  readonly #pending: Pending[] = []
  /** Stream offset of the next byte the scanner releases. */
  #position = 0
  /** Layer index of each recognised legacy layer directory. */
  readonly #layerOfDirectory = new Map<string, number>()
  /** Entry name of each layer whose data was left out, by layer index. */
  readonly #dropped = new Map<number, string>()
  #manifest: string | undefined
  #omitted: readonly string[] = []

  constructor({ layers, omit, describe }: ImageSaveFilterOptions) {
    super()
    this.#layers = layers
    this.#omit = Math.max(0, Math.min(omit, layers.length))
    this.#describe = describe
    this.#chains = this.#omit > 0 ? chainIds(layers.slice(0, this.#omit)) : []
    this.#blobOmit = unsharedBottom(layers, this.#omit)
    this.#scanner = new TarScanner((entry) => {
      this.#pending.push({ entry, end: entry.dataOffset + blocks(entry.size) })
    })
  }

  get omitted(): readonly string[] {
    return this.#omitted
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    try {
      for (const part of this.#scanner.scan(chunk)) this.#pass(part)
    } catch (error) {
      callback(this.#failure(error))
      return
    }
    callback()
  }

  override _flush(callback: TransformCallback) {
    try {
      const trailer = this.#scanner.end()
      this.#omitted = this.#checkAgainstManifest()
      for (const part of trailer) this.#pass(part)
    } catch (error) {
      callback(this.#failure(error))
      return
    }
    callback()
  }

  /** Forwards a released part of the stream, without the entries left out. */
  #pass(part: Buffer): void {
    let at = 0
    while (at < part.length) {
      const pending = this.#pending[0]
      if (!pending || this.#position < pending.entry.offset) {
        // Between entries: a global PAX header, the end-of-archive marker.
        const gap = pending ? pending.entry.offset - this.#position : Number.POSITIVE_INFINITY
        const length = Math.min(part.length - at, gap)
        this.push(part.subarray(at, at + length))
        at += length
        this.#position += length
        continue
      }
      pending.drop ??= this.#decide(pending)
      const length = Math.min(part.length - at, pending.end - this.#position)
      const piece = part.subarray(at, at + length)
      if (pending.captured) this.#capture(pending, piece)
      if (!pending.drop) this.push(piece)
      at += length
      this.#position += length
      if (this.#position === pending.end) {
        this.#pending.shift()
        if (pending.captured) this.#read(pending.entry.name, Buffer.concat(pending.captured))
      }
    }
  }

  /** Whether to leave the entry out, and whether to read its data on the way. */
  #decide(pending: Pending): boolean {
    const { name, size, type } = pending.entry
    if (this.#omit === 0 || type !== '0') return false
    if (LAYER_JSON.test(name) || name === 'manifest.json') {
      if (size <= MAX_CAPTURED_SIZE) pending.captured = []
      return false
    }
    const blob = OCI_BLOB.exec(name)?.[1]
    if (blob !== undefined) return this.#dropBlob(`sha256:${blob}`, name)
    const directory = LAYER_TAR.exec(name)?.[1]
    const index = directory === undefined ? undefined : this.#layerOfDirectory.get(directory)
    if (index === undefined || index >= this.#omit) return false
    this.#dropped.set(index, name)
    debug('%s: leaving out layer %d (%s): %s', this.#describe, index, this.#layers[index], name)
    return true
  }

  /** Leaves out an OCI layout's blob when it is the data of layers to leave out. */
  #dropBlob(digest: string, name: string): boolean {
    const indexes = this.#layers.flatMap((layer, index) =>
      layer === digest && index < this.#blobOmit ? [index] : [],
    )
    for (const index of indexes) this.#dropped.set(index, name)
    if (indexes.length > 0) {
      debug('%s: leaving out layers %o (%s): %s', this.#describe, indexes, digest, name)
    }
    return indexes.length > 0
  }

  #capture(pending: Pending, piece: Buffer): void {
    const { dataOffset, size } = pending.entry
    const start = Math.max(this.#position, dataOffset)
    const end = Math.min(this.#position + piece.length, dataOffset + size)
    if (end > start) {
      pending.captured?.push(
        Buffer.from(piece.subarray(start - this.#position, end - this.#position)),
      )
    }
  }

  #read(name: string, data: Buffer): void {
    if (name === 'manifest.json') {
      this.#manifest = data.toString('utf8')
      return
    }
    const directory = LAYER_JSON.exec(name)?.[1]
    if (directory === undefined) return
    const index = legacyLayerIndex(data.toString('utf8'), this.#chains)
    if (index !== undefined) this.#layerOfDirectory.set(directory, index)
    else debug('%s: directory %s is not one of the layers to leave out', this.#describe, directory)
  }

  /**
   * Checks what was left out against the save's own manifest.json.
   *
   * @return the layers left out.
   */
  #checkAgainstManifest(): readonly string[] {
    if (this.#dropped.size === 0) return []
    const paths = this.#manifestLayerPaths()
    const indexes = [...this.#dropped.keys()].sort((a, b) => a - b)
    for (const [index, name] of this.#dropped) {
      if (paths[index] !== name) {
        throw this.#invalid(
          `its manifest.json names ${JSON.stringify(paths[index])} for layer ${index}, but ${name} was recognised as that layer`,
        )
      }
    }
    if (indexes.some((index, position) => index !== position)) {
      // Every layer below one left out must be left out too, so that the record is a prefix.
      throw this.#invalid(
        `only layers ${indexes.join(', ')} were recognised, not a bottom part of the image`,
      )
    }
    return this.#layers.slice(0, indexes.length)
  }

  #manifestLayerPaths(): readonly unknown[] {
    if (this.#manifest === undefined) throw this.#invalid('it has no manifest.json')
    let manifest: unknown
    try {
      manifest = JSON.parse(this.#manifest)
    } catch (error) {
      throw this.#invalid(`its manifest.json is not JSON: ${messageOf(error)}`)
    }
    const images = Array.isArray(manifest) ? manifest : []
    const layers = (images[0] as { Layers?: unknown } | undefined)?.Layers
    if (images.length !== 1 || !Array.isArray(layers) || layers.length !== this.#layers.length) {
      throw this.#invalid(
        `its manifest.json does not describe one image of ${this.#layers.length} layers`,
      )
    }
    return layers
  }

  #invalid(problem: string): TransshipError {
    return new TransshipError('IMAGE_SAVE_INVALID', `${this.#describe}: ${problem}`)
  }

  #failure(error: unknown): Error {
    if (error instanceof TarFormatError) {
      return new TransshipError(
        'IMAGE_SAVE_INVALID',
        `${this.#describe} is not an archive that can be followed: ${error.message}`,
        { cause: error },
      )
    }
    return error instanceof Error ? error : new Error(String(error))
  }
}

/**
 * How many bottom layers (at most `omit`) an OCI layout save can leave out: a blob is written
 * once for every layer of its diff ID, so one that a layer kept needs is kept too, and with
 * it every layer from there up.
 */
function unsharedBottom(layers: readonly string[], omit: number): number {
  let bottom = omit
  for (;;) {
    const kept = new Set(layers.slice(bottom))
    const shared = layers.slice(0, bottom).findIndex((layer) => kept.has(layer))
    if (shared === -1) return bottom
    bottom = shared
  }
}

function blocks(size: number): number {
  return Math.ceil(size / BLOCK_SIZE) * BLOCK_SIZE
}
