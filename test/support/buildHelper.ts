import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/**
 * Vitest global setup: builds transship's helper program (`packages/helper`) when a source
 * is newer than the binary, so that the tests run the code as it is. Without a C compiler
 * this fails: the tests would otherwise fall back to the archive API and test less.
 */
export default function buildHelper(): void {
  const script = fileURLToPath(new URL('../../packages/helper/build.sh', import.meta.url))
  execFileSync('sh', [script], { stdio: 'inherit' })
}
