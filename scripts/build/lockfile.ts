/**
 * Reads what pnpm-lock.yaml (lockfile v9) pins: an importer's resolved versions, and the
 * packages a dependency brings. Only the block mappings pnpm writes are read (nested `key:`
 * lines, `key: value` scalars kept as text); list items are skipped.
 */

/** A block mapping: nested keys, values as their text. */
export interface Tree {
  [key: string]: Tree | string
}

/** One package of a locked dependency tree. */
export interface LockedPackage {
  readonly name: string
  /** The exact version (without pnpm's suffix naming the peers it was resolved with). */
  readonly version: string
  /** name → locked version. */
  readonly dependencies: Readonly<Record<string, string>>
  readonly optionalDependencies: Readonly<Record<string, string>>
  /** Needed only through optional dependencies (pnpm marks it `optional: true`). */
  readonly optional: boolean
}

/** Parses the block mappings of a lockfile. */
export function parseLockfile(text: string): Tree {
  const root: Tree = {}
  const open: { indent: number; node: Tree }[] = [{ indent: -1, node: root }]
  for (const line of text.split('\n')) {
    const match = /^( *)('[^']*'|"[^"]*"|[^\s'"-][^:]*):(?: (.*))?$/.exec(line)
    if (!match) continue
    const indent = match[1]?.length ?? 0
    while ((open.at(-1)?.indent ?? -1) >= indent) open.pop()
    const parent = open.at(-1)?.node ?? root
    const key = unquote(match[2] ?? '')
    if (match[3] === undefined) {
      const child: Tree = {}
      parent[key] = child
      open.push({ indent, node: child })
    } else {
      parent[key] = unquote(match[3])
    }
  }
  return root
}

/**
 * The exact version the lockfile resolved for one dependency of a workspace package.
 *
 * @param lock - the parsed lockfile.
 * @param importer - the package's directory, e.g. `packages/cli`.
 * @param name - the dependency.
 * @throws Error when the lockfile holds no such dependency (run pnpm install).
 */
export function lockedVersion(lock: Tree, importer: string, name: string): string {
  const version = at(lock, ['importers', importer, 'dependencies', name, 'version'])
  if (typeof version !== 'string' || version.startsWith('link:')) {
    throw new Error(`pnpm-lock.yaml pins no registry version of ${name} for ${importer}`)
  }
  return version
}

/**
 * Every package a locked dependency brings, itself included, each once.
 *
 * @param lock - the parsed lockfile.
 * @param name - the dependency.
 * @param version - its locked version ({@link lockedVersion}).
 */
export function lockedTree(lock: Tree, name: string, version: string): LockedPackage[] {
  const found = new Map<string, LockedPackage>()
  const visit = (name: string, version: string) => {
    const key = `${name}@${version}`
    if (found.has(key)) return
    const snapshot = at(lock, ['snapshots', key])
    if (snapshot === undefined) throw new Error(`pnpm-lock.yaml lacks ${key}`)
    const locked: LockedPackage = {
      name,
      version: version.replace(/\(.*$/, ''),
      dependencies: versions(snapshot, 'dependencies'),
      optionalDependencies: versions(snapshot, 'optionalDependencies'),
      optional: typeof snapshot === 'object' && snapshot.optional === 'true',
    }
    found.set(key, locked)
    for (const [child, childVersion] of Object.entries({
      ...locked.dependencies,
      ...locked.optionalDependencies,
    })) {
      visit(child, childVersion)
    }
  }
  visit(name, version)
  return [...found.values()]
}

function versions(snapshot: Tree | string, field: string): Record<string, string> {
  const map = typeof snapshot === 'object' ? snapshot[field] : undefined
  if (typeof map !== 'object') return {}
  return Object.fromEntries(Object.entries(map).filter(([, v]) => typeof v === 'string')) as Record<
    string,
    string
  >
}

function at(tree: Tree | string | undefined, path: readonly string[]): Tree | string | undefined {
  let node = tree
  for (const key of path) node = typeof node === 'object' ? node[key] : undefined
  return node
}

function unquote(text: string): string {
  return /^(['"]).*\1$/.test(text) ? text.slice(1, -1) : text
}
