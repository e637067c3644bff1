import { pipeline, type Readable } from 'node:stream'
import {
  type TarEdit,
  type TarEditEntry,
  type TarEditor,
  type TarEditorOptions,
  tarEditStream,
} from '../../archive/tarEditor.js'
import { tarGuard } from '../../archive/tarGuard.js'
import { encodeTarHeader } from '../../archive/tarWriter.js'
import { type EngineClient, shortId } from '../../engine/client.js'
import { withHelperContainer } from '../../engine/helperContainer.js'
import { putArchive } from '../../engine/putArchive.js'
import { TransshipError } from '../../errors.js'
import { bare, baseOf, dirOf, OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './layerPaths.js'
import { LAYER_MOUNT } from './readUpperDir.js'

const ROOT = LAYER_MOUNT.slice(1)

/** What {@link writeUpperDir} writes. */
export interface WriteUpperDirOptions {
  /** An image the engine holds, for the helper container. */
  readonly image: string
  /** The target's `GraphDriver.Data.UpperDir`. */
  readonly upperDir: string
  /** The target's id, for messages. */
  readonly target: string
  /** What the layer is, for messages, e.g. `the layer in backup b1`. */
  readonly describe: string
  readonly signal: AbortSignal
}

/**
 * Writes a layer (a Docker image layer, checked upstream) into a created, never-started
 * overlay2 container's UpperDir, bind-mounted into a created, never-started helper
 * container, with `PUT /containers/{id}/archive`. On the way, `.wh.` files become overlayfs
 * whiteouts (0:0 character devices), a `.wh..wh..opq` the opaque mark of its directory (a
 * `trusted.overlay.opaque` extended attribute, which the engine's extraction sets), and
 * every member is checked to stay inside the UpperDir.
 *
 * @param engine - the destination engine.
 * @param layer - the layer's tar stream.
 * @param options - helper image, UpperDir, messages, abort signal.
 * @throws TransshipError `UNSAFE_ARCHIVE` when a member would land outside the UpperDir.
 */
export async function writeUpperDir(
  engine: EngineClient,
  layer: Readable,
  options: WriteUpperDirOptions,
): Promise<void> {
  const { signal, describe } = options
  const mounts = [{ Type: 'bind' as const, Source: options.upperDir, Target: LAYER_MOUNT }]
  try {
    await withHelperContainer(
      engine,
      {
        image: options.image,
        purpose: `write the layer of ${shortId(options.target)}`,
        mounts,
        signal,
      },
      async (helper) => {
        const body = pipeline(
          layer,
          tarEditStream(toUpperDir(describe), describe),
          tarGuard({ root: ROOT, describe }),
          () => {},
        )
        await putArchive(engine, helper, body, {
          path: '/',
          action: `write the layer of container ${shortId(options.target)}`,
          signal,
        })
      },
    )
  } finally {
    layer.destroy()
  }
}

/**
 * The edit that turns an image layer into an UpperDir's content, rooted at the helper's
 * mount ({@link LAYER_MOUNT}); see {@link writeUpperDir}.
 *
 * @param describe - what the layer is, for messages.
 * @return the edit, for a {@link TarEditor}.
 */
export function toUpperDir(describe: string): TarEditorOptions {
  const conversion = new ToUpperDir(describe)
  return { edit: (entry) => conversion.edit(entry) }
}

/** The edit of an image layer into an UpperDir's content, rooted at the helper's mount. */
class ToUpperDir {
  readonly #describe: string
  /** The last directory member: an opaque whiteout that follows it marks it. */
  #lastDirectory: TarEditEntry | undefined

  constructor(describe: string) {
    this.#describe = describe
  }

  edit(entry: TarEditEntry): TarEdit {
    const path = bare(entry.name)
    if (path === '' || path === '.') return { action: 'drop' }
    const base = baseOf(path)
    const name = `${ROOT}/${entry.name}`
    if (base === OPAQUE_WHITEOUT) return this.#opaque(path)
    if (base.startsWith(WHITEOUT_PREFIX)) {
      const deleted = `${ROOT}/${dirOf(path)}${base.slice(WHITEOUT_PREFIX.length)}`
      return { action: 'rewrite', name: deleted, type: '3', mode: 0, devmajor: 0, devminor: 0 }
    }
    if (entry.type === '5') this.#lastDirectory = entry
    if (entry.type === '1') {
      return { action: 'rewrite', name, linkname: `${ROOT}/${entry.linkname}` }
    }
    return { action: 'rewrite', name }
  }

  /** The directory member again, with the opaque mark. */
  #opaque(path: string): TarEdit {
    const directory = this.#lastDirectory
    if (!directory || bare(directory.name) !== bare(dirOf(path))) {
      throw new TransshipError(
        'LAYER_UNSUPPORTED',
        `${this.#describe}: ${JSON.stringify(path)} does not follow its directory's own member`,
      )
    }
    const pax = new Map(directory.pax)
    pax.delete('path')
    pax.delete('linkpath')
    pax.set('SCHILY.xattr.trusted.overlay.opaque', 'y')
    const name = `${ROOT}/${dirOf(path)}`
    return {
      action: 'replace',
      blocks: [encodeTarHeader({ ...directory, name, type: '5', size: 0, linkname: '', pax })],
    }
  }
}
