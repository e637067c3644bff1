import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { promisify } from 'node:util'
import { afterEach } from 'vitest'
import { type TestEnv, testEnv } from '../../../test/support/testenv.js'
import type { ScpTransportOptions } from '../src/index.js'

const exec = promisify(execFile)

export const env: TestEnv = testEnv()

/** Options that reach the test environment's sshd on B as root, with its key only. */
export function sshOptions(overrides: Partial<ScpTransportOptions> = {}): ScpTransportOptions {
  return {
    host: env.TESTENV_SSH_HOST,
    port: Number(env.TESTENV_SSH_PORT),
    username: env.TESTENV_SSH_USER,
    identityFiles: [env.TESTENV_SSH_KEY],
    knownHostsPath: env.TESTENV_SSH_KNOWN_HOSTS,
    agent: false,
    path: '/tmp',
    ...overrides,
  }
}

/**
 * Runs a shell command on B as root, through OpenSSH's own client and the test
 * environment's ssh config: independent of the transport under test.
 */
export async function onHostB(command: string): Promise<string> {
  const { stdout } = await exec('ssh', [
    '-F',
    env.TESTENV_SSH_CONFIG,
    '-o',
    'BatchMode=yes',
    env.TESTENV_SSH_ALIAS,
    command,
  ])
  return stdout
}

/** Quotes `text` as one word for a POSIX shell. */
export function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`
}

const made: string[] = []
afterEach(async () => {
  await removeRemoteDirs()
})

/** Removes the directories {@link remoteDirectory} made so far. */
export async function removeRemoteDirs(): Promise<void> {
  const dirs = made.splice(0)
  if (dirs.length > 0) await onHostB(`rm -rf ${dirs.map(quote).join(' ')}`)
}

/** A fresh path on B (not created), removed after the test. */
export function remoteDirectory(name = 'transship-scp-test'): string {
  const dir = `/tmp/${name}-${randomUUID()}`
  made.push(dir)
  return dir
}
