import { arch } from 'node:os'
import { fileURLToPath } from 'node:url'

/** The repository's root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** packages/cli. */
export const CLI_DIR = `${ROOT}packages/cli`

/** Where packages/helper/build.sh writes the helper programs. */
export const HELPER_DIST = `${ROOT}packages/helper/dist`

/** The packages published as libraries, each built by tsc into its dist/. */
export const LIBRARIES = ['helper', 'core', 'transport-local', 'transport-s3', 'transport-scp']

/** The helper program's file name for this machine's architecture (as `uname -m` names it). */
export function nativeHelperProgram(): string {
  return `transship-helper-linux-${arch() === 'arm64' ? 'aarch64' : 'x86_64'}`
}
