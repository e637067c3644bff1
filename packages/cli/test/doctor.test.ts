import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { connectEngine, DOCTOR_LABEL } from '@transship/core'
import { describe, expect, it } from 'vitest'
import { testEnv } from '../../../test/support/testenv.js'

// Integration tests: they need `pnpm testenv up`, and fail (never skip) without it.
const env = testEnv()
const repositoryRoot = fileURLToPath(new URL('../../..', import.meta.url))

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs `pnpm transship ARGS` from the repository root, as a user would. */
function transship(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'pnpm',
      ['--silent', 'transship', ...args],
      { cwd: repositoryRoot },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr })
      },
    )
  })
}

async function doctorLeftovers(url: string): Promise<number> {
  const engine = await connectEngine(url)
  try {
    const containers = await engine.call('list doctor containers', (docker) =>
      docker.listContainers({ all: true, filters: { label: [`${DOCTOR_LABEL}=true`] } }),
    )
    return containers.length
  } finally {
    await engine.close()
  }
}

describe('transship doctor', () => {
  it.each([
    ['A', env.TESTENV_HOST_A],
    ['B', env.TESTENV_HOST_B],
  ])('passes on engine %s, with a real checkpoint and restore', async (_name, url) => {
    const run = await transship('doctor', '--host', url)
    expect(run.code, run.stdout + run.stderr).toBe(0)
    for (const check of [
      'reachable',
      'API version',
      'experimental mode',
      'storage driver',
      'root directory',
      'checkpoint and restore',
    ]) {
      expect(run.stdout).toMatch(new RegExp(`^ {2}pass {2}${check} `, 'm'))
    }
    expect(run.stdout).toContain('ready: every required check passes')
    expect(await doctorLeftovers(url)).toBe(0)
  })

  it('passes on engine B over SSH, through a host alias of an OpenSSH config file', async () => {
    const socketPath = new URL(env.TESTENV_HOST_B_SSH).pathname
    const url = `ssh://${env.TESTENV_SSH_ALIAS}${socketPath}`
    const run = await transship(
      'doctor',
      '--host',
      url,
      '--ssh-config',
      env.TESTENV_SSH_CONFIG,
      '--json',
    )
    expect(run.code, run.stdout + run.stderr).toBe(0)
    const result = JSON.parse(run.stdout) as { engine: string; ready: boolean; checks: unknown[] }
    expect(result).toMatchObject({ engine: url, ready: true })
    const engineB = await connectEngine(env.TESTENV_HOST_B)
    const { ID } = await engineB.info().finally(() => engineB.close())
    expect(result.checks[0]).toMatchObject({ name: 'reachable', ok: true })
    expect(JSON.stringify(result.checks[0])).toContain(ID)
  })

  it('fails with a hint when the engine is not there', async () => {
    const run = await transship('doctor', '--host', 'unix:///run/transship-no-such-engine.sock')
    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(/^ {2}FAIL {2}reachable .*ENOENT/m)
    expect(run.stdout).toMatch(/hint: check that dockerd runs there/)
    expect(run.stdout).toContain('not ready: 1 required check failed')
  })

  it('fails with one error line for a malformed engine URL', async () => {
    const run = await transship('doctor', '--host', 'docker.example.org:2375')
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr.trim()).toBe(
      '[transship] invalid engine URL "docker.example.org:2375": expected unix:///path, tcp://host:port or ssh://[user@]host',
    )
  })
})
