// Paths of a container layer. The layer artifact is a Docker image layer: names relative to
// the root (`etc/passwd`, `usr/bin/`), deletions as `.wh.<name>` files. Names are raw bytes
// as latin1 characters, as the tar readers give them; `docker diff` gives UTF-8 text.

/** The prefix of a whiteout: `dir/.wh.name` deletes `dir/name` from the layers below. */
export const WHITEOUT_PREFIX = '.wh.'
/** A whiteout that hides everything the layers below hold in its directory. */
export const OPAQUE_WHITEOUT = '.wh..wh..opq'

/** Files the engine writes into every container (bind-mounted): never part of the layer. */
export const ENGINE_FILES = ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf'] as const

/** A layer path without its trailing `/`, e.g. `usr/bin/` → `usr/bin`. */
export function bare(name: string): string {
  return name.endsWith('/') ? name.slice(0, -1) : name
}

/** The directory part of a path, with its trailing `/` (`''` at the root): `a/b/c` → `a/b/`. */
export function dirOf(path: string): string {
  const bareName = bare(path)
  return bareName.slice(0, bareName.lastIndexOf('/') + 1)
}

/** The last segment of a path: `a/b/` → `b`. */
export function baseOf(path: string): string {
  const bareName = bare(path)
  return bareName.slice(bareName.lastIndexOf('/') + 1)
}

/** The whiteout that deletes `path`: `a/b` → `a/.wh.b`. */
export function whiteoutOf(path: string): string {
  return `${dirOf(path)}${WHITEOUT_PREFIX}${baseOf(path)}`
}

/**
 * A container path as the layer names it: relative, raw bytes as latin1 characters.
 * `/etc/passwd` → `etc/passwd`.
 */
export function layerPath(containerPath: string): string {
  return Buffer.from(containerPath.replace(/^\/+/, ''), 'utf8').toString('latin1')
}

/** A layer path for messages: `/` and UTF-8 text. */
export function shown(path: string): string {
  return `/${Buffer.from(bare(path), 'latin1').toString('utf8')}`
}

/** Paths left out of the layer, each with everything beneath it. */
export class ExcludedPaths {
  readonly #paths: Set<string>

  /** @param containerPaths - absolute container paths, e.g. mount points. */
  constructor(containerPaths: Iterable<string>) {
    this.#paths = new Set([...containerPaths].map((path) => bare(layerPath(path))))
    this.#paths.delete('')
  }

  /** Whether a layer path is one of the paths, or beneath one. */
  covers(path: string): boolean {
    if (this.#paths.size === 0) return false
    const name = bare(path)
    for (let slash = name.indexOf('/'); slash !== -1; slash = name.indexOf('/', slash + 1)) {
      if (this.#paths.has(name.slice(0, slash))) return true
    }
    return this.#paths.has(name)
  }
}

/** Orders layer paths so that a directory comes before what it holds. */
export function byPath(a: string, b: string): number {
  const left = bare(a).split('/')
  const right = bare(b).split('/')
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const l = left[i] as string
    const r = right[i] as string
    if (l !== r) return l < r ? -1 : 1
  }
  return left.length - right.length
}
