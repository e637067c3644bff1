import { arch } from 'node:os'
import { fileURLToPath } from 'node:url'

/** The repository's root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** packages/cli. */
export const CLI_DIR = `${ROOT}packages/cli`

/** packages/helper: its build.sh writes the helper programs into its dist/. */
export const HELPER_DIR = `${ROOT}packages/helper`

/** The packages published as libraries, each built by tsc into its dist/. */
export const LIBRARIES = ['helper', 'core', 'transport-local', 'transport-s3', 'transport-scp']

/** The architectures the helper program is built for, as `uname -m` names them. */
export const HELPER_ARCHES = ['x86_64', 'aarch64'] as const

/** This machine's architecture, as `uname -m` names it. */
export function nativeArch(): (typeof HELPER_ARCHES)[number] {
  return arch() === 'arm64' ? 'aarch64' : 'x86_64'
}
