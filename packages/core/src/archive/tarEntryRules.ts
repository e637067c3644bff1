import type { TarEntry } from './tarScanner.js'

/**
 * Decides whether archive entries, taken in order, stay inside one top-level directory
 * when extracted: names and hard-link targets under it, relative symlink targets resolving
 * inside it, and nothing written through a symlink an earlier entry created. Absolute
 * symlink targets are allowed: they resolve inside the container at run time, as they did
 * on the source.
 */
export class TarEntryRules {
  /** The root as entry names spell it: UTF-8 bytes as latin1 characters. */
  readonly #root: string
  readonly #symlinks = new Set<string>()

  /** @param root - the top-level directory name, e.g. `volume`. */
  constructor(root: string) {
    this.#root = Buffer.from(root).toString('latin1')
  }

  /**
   * Checks the next entry of the archive.
   *
   * @return why the entry must not be extracted, naming it; `undefined` when it may be.
   */
  problemWith(entry: TarEntry): string | undefined {
    const problem = this.#problemWith(entry)
    return problem === undefined ? undefined : `entry ${show(entry.name)} ${problem}`
  }

  #problemWith(entry: TarEntry): string | undefined {
    if (entry.name.startsWith('/')) return 'has an absolute name'
    const path = this.#resolve([], entry.name)
    if (path === undefined) return `is outside ${show(this.#root)}`
    const above = this.#symlinkAbove(path)
    if (above !== undefined) return `is beneath the symlink ${show(above)}`
    if (entry.type === '1') {
      const target = `hard link to ${show(entry.linkname)}`
      if (entry.linkname.startsWith('/')) return `is a ${target}, an absolute name`
      const targetPath = this.#resolve([], entry.linkname)
      if (targetPath === undefined) return `is a ${target}, outside ${show(this.#root)}`
      const targetAbove = this.#symlinkAbove(targetPath)
      if (targetAbove !== undefined) {
        return `is a ${target}, beneath the symlink ${show(targetAbove)}`
      }
    }
    if (entry.type === '2') {
      const relative = !entry.linkname.startsWith('/')
      if (relative && this.#resolve(path.slice(0, -1), entry.linkname) === undefined) {
        return `is a symlink to ${show(entry.linkname)}, which leads outside ${show(this.#root)}`
      }
      this.#symlinks.add(path.join('/'))
    }
    return undefined
  }

  /**
   * Resolves a relative path from `base` lexically.
   *
   * @return its segments, the root first; `undefined` when it is not under the root, or
   *   when a `..` climbs out of the root on the way.
   */
  #resolve(base: readonly string[], relative: string): string[] | undefined {
    const segments = [...base]
    for (const segment of relative.split('/')) {
      if (segment === '..') {
        if (segments.length <= 1) return undefined
        segments.pop()
      } else if (segment !== '' && segment !== '.') {
        segments.push(segment)
      }
    }
    return segments[0] === this.#root ? segments : undefined
  }

  /** The earlier symlink that is a parent directory of `path`, if any. */
  #symlinkAbove(path: readonly string[]): string | undefined {
    if (this.#symlinks.size === 0) return undefined
    let parent = path[0] ?? ''
    for (let i = 1; i < path.length; i++) {
      if (this.#symlinks.has(parent)) return parent
      parent += `/${path[i]}`
    }
    return undefined
  }
}

/** A name for messages: raw bytes decoded as UTF-8, quoted. */
function show(latin1: string): string {
  return JSON.stringify(Buffer.from(latin1, 'latin1').toString('utf8'))
}
