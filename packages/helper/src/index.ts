import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The package's directory: this module runs from its `src/` (the sources, through tsx), its
 * `dist/` (built), or the CLI's bundle in the CLI's `dist/`, which ships the programs there.
 */
const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..')

/**
 * The directory holding the helper's C sources.
 *
 * ## Example
 * ```ts
 * import { HELPER_SOURCE_DIR } from '@transship/helper'
 * console.log(HELPER_SOURCE_DIR) // /…/packages/helper/src
 * ```
 */
export const HELPER_SOURCE_DIR: string = join(PACKAGE_DIR, 'src')

/** Docker's `GET /info` reports `Architecture` as `uname -m` does; Go's names are accepted too. */
const ARCHITECTURES: Record<string, string> = {
  x86_64: 'x86_64',
  amd64: 'x86_64',
  aarch64: 'aarch64',
  arm64: 'aarch64',
}

/**
 * The absolute path of the static helper binary for an engine's architecture. It exists once
 * `build.sh` has built it for that architecture (`pnpm --filter @transship/helper build`
 * builds the host's); this function does not check.
 *
 * ## Example
 * ```ts
 * const info = await docker.info()
 * const binary = helperBinaryPath(info.Architecture) // …/dist/transship-helper-linux-x86_64
 * ```
 *
 * @param arch - the engine's architecture as `GET /info` reports it: `x86_64`, `aarch64`
 * @return the absolute path of `dist/transship-helper-linux-<arch>`
 * @throws Error when the architecture has no helper build
 */
export function helperBinaryPath(arch: string): string {
  const machine = ARCHITECTURES[arch]
  if (!machine) {
    throw new Error(
      `[helper] no helper binary for architecture \`${arch}\` (known: x86_64, aarch64)`,
    )
  }
  return join(PACKAGE_DIR, 'dist', `transship-helper-linux-${machine}`)
}
