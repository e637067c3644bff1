import { Transform, type TransformCallback } from 'node:stream'
import { type TarEntry, TarScanner } from '../../archive/tarScanner.js'
import { messageOf, TransshipError } from '../../errors.js'

/** An index larger than this is refused: a real one lists one image. */
const MAX_INDEX_SIZE = 1024 * 1024
/** The indexes of a save: Docker's own, and the OCI layout's (Docker 25 and later). */
const INDEXES = new Set(['manifest.json', 'index.json'])
/** The annotations by which an OCI index names (tags) an image. */
const NAME_ANNOTATIONS = ['io.containerd.image.name', 'org.opencontainers.image.ref.name']

/** Options of {@link imageLoadGuard}. */
export interface ImageLoadGuardOptions {
  /** The image the manifest names: the only one the archive may hold. */
  readonly imageId: string
  /** What the stream is, for errors, e.g. `artifact <id>/image.tar`. */
  readonly describe: string
}

/**
 * Passes a `docker save` archive on its way to `docker load`, and fails it when it would
 * make the engine do more than load the image the manifest names: an archive that carries
 * tags of its own (`repositories`, `RepoTags` in its manifest.json, names in an OCI
 * layout's `index.json`, which Docker 25 and later write too) would move tags that exist
 * at the destination (`redis:latest` onto another image), and one that holds another
 * image, or several, would load what nobody asked for. transship saves images by id, so
 * its archives carry no tags; the manifest's tags are applied afterwards, only where free.
 * The engine reads the whole archive before it loads anything, so failing the stream at
 * any point loads nothing.
 *
 * @param options - the image expected, what the stream is.
 * @return the stream.
 */
export function imageLoadGuard(options: ImageLoadGuardOptions): Transform {
  const hex = options.imageId.replace(/^sha256:/, '')
  // Where the image's config is: a legacy save's `<id>.json`, an OCI layout's blob.
  const configPaths = [`${hex}.json`, `blobs/sha256/${hex}`]
  const refuse = (why: string) =>
    new TransshipError(
      'IMAGE_ARCHIVE_REFUSED',
      `${options.describe} is refused: ${why}; loading it would change more than image ${options.imageId} at the destination`,
    )
  const parse = (name: string, text: string): unknown => {
    try {
      return JSON.parse(text)
    } catch (error) {
      throw refuse(`its ${name} is not JSON (${messageOf(error)})`)
    }
  }
  const checkManifest = (images: unknown) => {
    if (!Array.isArray(images) || images.length !== 1) {
      throw refuse('its manifest.json does not list exactly one image')
    }
    const [image] = images as ({ Config?: unknown; RepoTags?: unknown } | null)[]
    if (!image || !configPaths.includes(String(image.Config))) {
      throw refuse(`it holds image ${String(image?.Config)}, not ${options.imageId}`)
    }
    if (Array.isArray(image.RepoTags) && image.RepoTags.length > 0) {
      throw refuse(`it tags the image ${image.RepoTags.map(String).join(', ')}`)
    }
  }
  const checkOciIndex = (index: unknown) => {
    const manifests = (index as { manifests?: unknown } | null)?.manifests
    const names = (Array.isArray(manifests) ? manifests : []).flatMap((entry: unknown) => {
      const annotations =
        (entry as { annotations?: Record<string, unknown> } | null)?.annotations ?? {}
      return NAME_ANNOTATIONS.flatMap((key) =>
        annotations[key] === undefined ? [] : [String(annotations[key])],
      )
    })
    if (names.length > 0) throw refuse(`its index.json names the image ${names.join(', ')}`)
  }

  // The indexes the scanner has reported, in stream order: one chunk may hold several.
  const reading: { entry: TarEntry; data: Buffer[] }[] = []
  let position = 0
  let manifestChecked = false
  const scanner = new TarScanner((entry) => {
    if (entry.name === 'repositories') throw refuse('it holds repositories, which tags images')
    if (INDEXES.has(entry.name)) {
      if (entry.size > MAX_INDEX_SIZE) throw refuse(`its ${entry.name} is too large`)
      reading.push({ entry, data: [] })
    }
  })
  // Collects an index's data as it passes, and checks the index once whole.
  const collect = (part: Buffer) => {
    const partEnd = position + part.length
    for (const { entry, data } of reading) {
      const from = Math.max(position, entry.dataOffset)
      const to = Math.min(partEnd, entry.dataOffset + entry.size)
      if (to > from) data.push(Buffer.from(part.subarray(from - position, to - position)))
    }
    while (reading[0] && partEnd >= reading[0].entry.dataOffset + reading[0].entry.size) {
      const { entry, data } = reading.shift() as (typeof reading)[number]
      const json = parse(entry.name, Buffer.concat(data).toString('utf8'))
      if (entry.name === 'manifest.json') {
        checkManifest(json)
        manifestChecked = true
      } else {
        checkOciIndex(json)
      }
    }
    position = partEnd
  }
  const forward = (stream: Transform, parts: Buffer[]) => {
    for (const part of parts) {
      collect(part)
      stream.push(part)
    }
  }
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        forward(this, scanner.scan(chunk))
        callback()
      } catch (error) {
        callback(error as Error)
      }
    },
    flush(callback: TransformCallback) {
      try {
        forward(this, scanner.end())
        if (!manifestChecked) throw refuse('it has no manifest.json')
        callback()
      } catch (error) {
        callback(error as Error)
      }
    },
  })
}
