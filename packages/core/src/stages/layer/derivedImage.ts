import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { encodeTarHeader, endOfArchive, padding } from '../../archive/tarWriter.js'
import { type EngineClient, shortId } from '../../engine/client.js'
import { findImage } from '../../engine/images.js'
import { TransshipError } from '../../errors.js'
import { loadImage } from '../image/images.js'

/** The image {@link loadDerivedImage} makes. */
export interface DerivedImage {
  /** Its ID (`sha256:…`), the sha256 of its configuration. */
  readonly id: string
  /** Its tag. */
  readonly tag: string
  /** Whether this call loaded it (`false`: the engine held it already, the layer was not read). */
  readonly loaded: boolean
}

/** What {@link loadDerivedImage} builds. */
export interface DerivedImageOptions {
  /** The image the new layer goes on, held by the engine. */
  readonly base: string
  /** The layer's byte size and sha256 (its diff ID), known before it is read. */
  readonly layer: { readonly size: number; readonly sha256: string }
  /** The tag to give the new image, e.g. `transship-layer:web-20261125T101500Z-3f9a`. */
  readonly tag: string
  /** Its creation time (ISO 8601): the same inputs make the same image ID. */
  readonly created: string
  /** What the layer is, for messages. */
  readonly describe: string
  readonly signal: AbortSignal
}

/**
 * Makes an image that is `base` plus one layer, with `POST /images/load`: a `docker save`
 * archive holding the new image's configuration (the base's, with the layer's diff ID
 * added), a manifest, and only the new layer's `layer.tar`, streamed from `layer`. The
 * engine skips the base's layers, which it holds (matched by chain), without looking for
 * their files. The layer's `.wh.` files delete what the layers below hold, on any storage
 * driver. When the engine already holds the image, nothing is loaded and `layer` is not read.
 *
 * @param engine - the destination engine.
 * @param layer - the layer's tar stream, checked upstream against its size and sha256.
 * @param options - base image, the layer's digest, tag, creation time.
 * @return the image.
 * @throws TransshipError `IMAGE_LOAD_FAILED` when the engine refuses the archive.
 */
export async function loadDerivedImage(
  engine: EngineClient,
  layer: Readable,
  options: DerivedImageOptions,
): Promise<DerivedImage> {
  const { signal, tag } = options
  const base = await engine.call(`inspect image ${shortId(options.base)}`, (docker) =>
    docker.getImage(options.base).inspect(),
  )
  const baseLayers = base.RootFS?.Layers ?? []
  const diffId = `sha256:${options.layer.sha256}`
  const config = Buffer.from(
    JSON.stringify({
      architecture: base.Architecture,
      os: base.Os,
      ...((base as { Variant?: string }).Variant
        ? { variant: (base as { Variant?: string }).Variant }
        : {}),
      created: options.created,
      config: base.Config,
      rootfs: { type: 'layers', diff_ids: [...baseLayers, diffId] },
    }),
  )
  const configHex = createHash('sha256').update(config).digest('hex')
  const id = `sha256:${configHex}`
  const held = (await findImage(engine, id)) !== undefined
  if (held) return { id, tag, loaded: false }

  // Layer files the engine holds are named but absent: it does not open them.
  const layerFiles = [...baseLayers, diffId].map((_, index) => `layer-${index}/layer.tar`)
  const manifest = Buffer.from(
    JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [tag], Layers: layerFiles }]),
  )
  async function* archive(): AsyncGenerator<Buffer> {
    yield file(`${configHex}.json`, config)
    yield file('manifest.json', manifest)
    yield encodeTarHeader({
      name: layerFiles.at(-1) as string,
      type: '0',
      mode: 0o644,
      size: options.layer.size,
    })
    for await (const chunk of layer) yield chunk as Buffer
    yield Buffer.alloc(padding(options.layer.size))
    yield endOfArchive()
  }
  const messages = await loadImage(engine, Readable.from(archive()), {
    action: `load image ${tag} (${options.describe} on ${shortId(options.base)})`,
    signal,
  })
  const loaded = (await findImage(engine, id)) !== undefined
  if (!loaded) {
    throw new TransshipError(
      'IMAGE_LOAD_FAILED',
      `${engine.url} did not make image ${shortId(id)} from ${options.describe}: ${messages.join(' ') || 'it said nothing'}`,
    )
  }
  return { id, tag, loaded: true }
}

/** A small file of the archive, padded. */
function file(name: string, data: Buffer): Buffer {
  const header = encodeTarHeader({ name, type: '0', mode: 0o644, size: data.length })
  return Buffer.concat([header, data, Buffer.alloc(padding(data.length))])
}
