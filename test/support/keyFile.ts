import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyFile } from '@transship/core'

/**
 * Vitest global setup: one secret key for the backups the tests' `transship backup` and
 * `restore` make, as a user keeps one (`TRANSSHIP_KEY_FILE`, which every transship they
 * spawn inherits), so that staged backups are encrypted as by default. A test of what a
 * missing key does clears the variable for its own run.
 *
 * @return the teardown.
 */
export default async function keyFile(): Promise<() => void> {
  const directory = mkdtempSync(join(tmpdir(), 'transship-test-key-'))
  const path = join(directory, 'backup.key')
  await generateKeyFile(path)
  process.env.TRANSSHIP_KEY_FILE = path
  return () => rmSync(directory, { recursive: true, force: true })
}
