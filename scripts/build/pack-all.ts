/**
 * `pnpm pack:all DIR` (after `pnpm build`): the tarballs transship installs from until it is
 * published.
 *
 * - `DIR/transship-cli-VERSION.tgz`: the `transship` command, self-contained: the @transship
 *   packages and the pure-JavaScript dependencies are in its bundle, so `npm install -g
 *   DIR/*.tgz` fetches none of them from a registry. What the bundle leaves out, ssh2 and
 *   zstd-napi (native; optional: without it, zstd comes from Node's own zlib where Node has
 *   it), are dependencies at the versions pnpm-lock.yaml holds, and so is every package they
 *   bring (see {@link pinnedDependencies}). It ships the helper programs built,
 *   and `.prebuild-installrc`, which makes zstd-napi build from its own sources.
 * - `DIR/libraries/*.tgz`: @transship/core, helper and the transports as they would be
 *   published (`pnpm pack`: the built entry points, workspace versions made exact). Not
 *   needed by the command; apart, so that `DIR/*.tgz` is the command alone (npm installing
 *   them globally would look their @transship dependencies up in the registry).
 */
import { execFileSync } from 'node:child_process'
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import {
  type LockedPackage,
  lockedTree,
  lockedVersion,
  parseLockfile,
  type Tree,
} from './lockfile.js'
import { CLI_DIR, LIBRARIES, ROOT } from './paths.js'

/** The fields of packages/cli/package.json the packed manifest keeps. */
interface CliManifest {
  readonly name: string
  readonly version: string
  readonly description?: string
  readonly type?: string
  readonly license?: string
  readonly engines?: Record<string, string>
  readonly bin?: Record<string, string>
  readonly dependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
}

/** Fails unless `pnpm build` has run since the sources last changed. */
function checkBuilt(): void {
  const bundle = join(CLI_DIR, 'dist/main.js')
  const outputs = [
    bundle,
    ...LIBRARIES.flatMap((name) => [
      join(ROOT, 'packages', name, 'dist/index.js'),
      join(ROOT, 'packages', name, 'dist/index.d.ts'),
    ]),
  ]
  const missing = outputs.filter((path) => !existsSync(path))
  if (missing.length > 0) throw new Error(`${missing.join(', ')} missing: run pnpm build first`)
  // The bundle is the build's last output, written anew each time (tsc leaves a declaration
  // file whose content is unchanged as it was).
  const built = statSync(bundle).mtimeMs
  const changed = ['cli', ...LIBRARIES].find((name) =>
    newerThan(join(ROOT, 'packages', name, 'src'), built),
  )
  if (changed) throw new Error(`packages/${changed}/src changed since the build: run pnpm build`)
}

function newerThan(dir: string, time: number): boolean {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).some(
    (path) => statSync(join(dir, path)).mtimeMs > time,
  )
}

/** Removes the transship tarballs an earlier run left, so that `DIR/*.tgz` is this one's. */
function removeEarlierTarballs(dir: string): void {
  for (const name of readdirSync(dir)) {
    if (/^transship-.*\.tgz$/.test(name)) rmSync(join(dir, name))
  }
}

function packLibraries(dir: string): void {
  for (const name of LIBRARIES) {
    execFileSync('pnpm', ['pack', '--pack-destination', dir], {
      cwd: join(ROOT, 'packages', name),
      stdio: ['ignore', 'ignore', 'inherit'],
    })
  }
}

/**
 * The packed CLI's dependencies: each of packages/cli's, and every package it brings, at the
 * exact version pnpm-lock.yaml holds. Listed side by side, npm installs them flat and each
 * dependent's range is met by the version listed: the whole tree is pinned. (npm ignores an
 * npm-shrinkwrap.json in a tarball installed from a file: measured with npm 11.19.)
 *
 * @throws Error when a package is locked at two versions, which one list cannot hold.
 */
function pinnedDependencies(lock: Tree, names: readonly string[]) {
  const pinned = new Map<string, LockedPackage>()
  for (const name of names) {
    for (const locked of lockedTree(lock, name, lockedVersion(lock, 'packages/cli', name))) {
      const other = pinned.get(locked.name)
      if (other && other.version !== locked.version) {
        throw new Error(`${locked.name} is locked at ${other.version} and ${locked.version}`)
      }
      pinned.set(locked.name, locked)
    }
  }
  const versions = (optional: boolean) =>
    Object.fromEntries(
      [...pinned.values()]
        .filter((locked) => locked.optional === optional)
        .map((locked) => [locked.name, locked.version]),
    )
  return { dependencies: versions(false), optionalDependencies: versions(true) }
}

/**
 * Read by prebuild-install (zstd-napi's install script) in the folders above the package it
 * installs: `buildFromSource` makes it skip its download from GitHub, so node-gyp builds
 * zstd-napi from the sources in its tarball.
 */
const PREBUILD_RC = '.prebuild-installrc'

/**
 * Packs the CLI from a staging directory: its bundle, the root README, and a manifest with
 * the dependencies pinned.
 */
function packCli(dir: string): void {
  const source = JSON.parse(readFileSync(join(CLI_DIR, 'package.json'), 'utf8')) as CliManifest
  const lock = parseLockfile(readFileSync(join(ROOT, 'pnpm-lock.yaml'), 'utf8'))
  const manifest = {
    name: source.name,
    version: source.version,
    description: source.description,
    type: source.type,
    license: source.license,
    engines: source.engines,
    bin: source.bin,
    files: ['dist', PREBUILD_RC],
    ...pinnedDependencies(
      lock,
      Object.keys({ ...source.dependencies, ...source.optionalDependencies }),
    ),
  }
  const stage = mkdtempSync(join(tmpdir(), 'transship-pack-'))
  try {
    cpSync(join(CLI_DIR, 'dist'), join(stage, 'dist'), { recursive: true })
    copyFileSync(join(ROOT, 'README.md'), join(stage, 'README.md'))
    copyFileSync(join(CLI_DIR, PREBUILD_RC), join(stage, PREBUILD_RC))
    writeFileSync(join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
    execFileSync('npm', ['pack', '--loglevel', 'warn', '--pack-destination', dir], {
      cwd: stage,
      stdio: ['ignore', 'ignore', 'inherit'],
    })
  } finally {
    rmSync(stage, { recursive: true, force: true })
  }
}

function listTarballs(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.tgz'))
    .map((name) => `${join(dir, name)}  ${(statSync(join(dir, name)).size / 1024).toFixed(0)} KiB`)
}

function main(args: readonly string[]): number {
  if (args.length !== 1 || args[0]?.startsWith('-')) {
    process.stderr.write('usage: pnpm pack:all DIR   (after pnpm build)\n')
    return 2
  }
  // pnpm runs scripts from the root; a relative DIR is the caller's.
  const dir = resolve(process.env.INIT_CWD ?? process.cwd(), args[0] ?? '')
  const libraries = join(dir, 'libraries')
  checkBuilt()
  mkdirSync(libraries, { recursive: true })
  removeEarlierTarballs(dir)
  removeEarlierTarballs(libraries)
  packCli(dir)
  packLibraries(libraries)
  const lines = [
    ...listTarballs(dir),
    ...listTarballs(libraries),
    `install the command with: npm install -g ${join(dir, '*.tgz')}`,
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
  return 0
}

try {
  process.exitCode = main(process.argv.slice(2))
} catch (error) {
  process.stderr.write(`pack:all: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
}
