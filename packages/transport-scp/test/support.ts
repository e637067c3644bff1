import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Transport, TransshipError } from '@transship/core'
import { afterEach, expect } from 'vitest'
import { type TestEnv, testEnv } from '../../../test/support/testenv.js'
import type { ScpTransportOptions } from '../src/index.js'

const exec = promisify(execFile)

export const env: TestEnv = testEnv()

/** `user@host:port` of the main sshd on B, as the transport's messages show it. */
export const TARGET = `${env.TESTENV_SSH_USER}@${env.TESTENV_SSH_HOST}:${env.TESTENV_SSH_PORT}`

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

/** The same, for the sshd on B that has no SFTP subsystem. */
export function noSftpOptions(overrides: Partial<ScpTransportOptions> = {}): ScpTransportOptions {
  return sshOptions({ port: Number(env.TESTENV_SSH_NOSFTP_PORT), ...overrides })
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

/** Every file and directory under `dir` on B, relative to it, sorted (hidden ones too). */
export async function remoteTree(dir: string): Promise<string[]> {
  const out = await onHostB(`cd ${quote(dir)} && find . -mindepth 1 | sort`)
  return out
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.replace(/^\.\//, ''))
}

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (let step = cleanups.pop(); step; step = cleanups.pop()) await step()
})

/** Runs `step` after the test, newest first. */
export function afterTest(step: () => Promise<unknown>): void {
  cleanups.push(step)
}

/** A fresh path on B under `parent` (not created), removed after the test. */
export function remoteDirectory(parent = '/tmp'): string {
  const dir = `${parent}/transship-scp-test-${randomUUID()}`
  afterTest(() => onHostB(`rm -rf ${quote(dir)}`))
  return dir
}

/** A fresh local temporary directory, removed after the test. */
export async function localDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'transship-scp-test-'))
  afterTest(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A transport, closed after the test. */
export function closing<T extends Transport>(transport: T): T {
  afterTest(() => transport.close?.() ?? Promise.resolve())
  return transport
}

/** Expects `promise` to reject with a TransshipError of `code`, and returns the error. */
export async function rejection(promise: Promise<unknown>, code: string): Promise<TransshipError> {
  const error = await promise.then(
    () => expect.fail(`expected a rejection with ${code}`),
    (reason: unknown) => reason as TransshipError,
  )
  expect(error).toMatchObject({ name: 'TransshipError', code })
  return error
}

/** The ids of the processes that have a file open whose path `matches`. */
export async function processesHolding(matches: (path: string) => boolean): Promise<number[]> {
  const found: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const fds = await readdir(`/proc/${entry}/fd`).catch(() => [] as string[])
    for (const fd of fds) {
      const target = await readlink(`/proc/${entry}/fd/${fd}`).catch(() => '')
      if (matches(target)) {
        found.push(Number(entry))
        break
      }
    }
  }
  return found
}

/** A process's parent id, command name and command line. */
export async function processInfo(
  pid: number,
): Promise<{ parent: number; comm: string; cmdline: string }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ')
  return {
    comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    parent: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]),
    cmdline,
  }
}
