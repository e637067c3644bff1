/**
 * Reads what pnpm-lock.yaml (lockfile v9) pins: an importer's resolved versions, and the
 * packages a dependency brings.
 */
import { parse } from 'yaml'

/** A parsed lockfile, or a part of one. */
export type Tree = unknown

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

/** Parses a lockfile. */
export function parseLockfile(text: string): Tree {
  return parse(text)
}

/**
 * The exact version the lockfile resolved for one dependency of a workspace package (a
 * required or an optional one).
 *
 * @param lock - the parsed lockfile.
 * @param importer - the package's directory, e.g. `packages/cli`.
 * @param name - the dependency.
 * @throws Error when the lockfile holds no such dependency (run pnpm install).
 */
export function lockedVersion(lock: Tree, importer: string, name: string): string {
  const version =
    at(lock, ['importers', importer, 'dependencies', name, 'version']) ??
    at(lock, ['importers', importer, 'optionalDependencies', name, 'version'])
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
      optional: at(snapshot, ['optional']) === true,
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

function versions(snapshot: Tree, field: string): Record<string, string> {
  const map = at(snapshot, [field])
  if (typeof map !== 'object' || map === null) return {}
  return Object.fromEntries(
    Object.entries(map).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  )
}

function at(tree: Tree, path: readonly string[]): Tree {
  let node = tree
  for (const key of path) {
    node =
      typeof node === 'object' && node !== null ? (node as Record<string, Tree>)[key] : undefined
  }
  return node
}
