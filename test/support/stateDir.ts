import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Vitest global setup: the runs the tests start record their ledgers in a state directory
 * of their own (`XDG_STATE_HOME`, which every transship they spawn inherits), never in the
 * user's, and it is removed afterwards. A test that reads ledgers uses its own directory.
 *
 * @return the teardown.
 */
export default function stateDir(): () => void {
  const directory = mkdtempSync(join(tmpdir(), 'transship-test-state-'))
  process.env.XDG_STATE_HOME = directory
  return () => rmSync(directory, { recursive: true, force: true })
}
