import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { connectEngine, DOCTOR_LABEL, type EngineCheck } from '@transship/core'
import { describe, expect, it } from 'vitest'
import { dockerAt, TEST_LABEL } from '../../../test/support/docker.js'
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
    ['D (Docker 26.1)', env.TESTENV_HOST_D],
  ])('passes on engine %s, with a real checkpoint and restore', async (_name, url) => {
    const run = await transship('doctor', '--host', url)
    expect(run.code, run.stdout + run.stderr).toBe(0)
    for (const check of [
      'reachable',
      'API version',
      'experimental mode',
      'storage driver',
      'root directory',
      'engine version',
      'checkpoint and restore',
    ]) {
      expect(run.stdout).toMatch(new RegExp(`^ {2}pass {2}${check} `, 'm'))
    }
    // A host limit (this sandbox lacks CAP_SYS_RESOURCE) is a warning that explains itself.
    expect(run.stdout).toMatch(/^ {2}(pass|warn) {2}non-root processes /m)
    if (/^ {2}warn {2}non-root processes /m.test(run.stdout)) {
      expect(run.stdout).toMatch(/hint: CRIU on this host cannot read the resource limits/)
    }
    expect(run.stdout).toMatch(/^ready: every required check passes( \(\d+ warnings? above\))?$/m)
    expect(await doctorLeftovers(url)).toBe(0)
  })

  it('agrees with a migration about processes that run as a user other than root', async () => {
    const doctor = await transship('doctor', '--host', env.TESTENV_HOST_A, '--json')
    const { checks } = JSON.parse(doctor.stdout) as { checks: EngineCheck[] }
    const nonRoot = checks.find((check) => check.name === 'non-root processes')
    expect(nonRoot?.required).toBe(false)
    const name = `transship-test-nonroot-${process.pid}`
    const source = await dockerAt(env.TESTENV_HOST_A).createContainer({
      name,
      Image: env.TESTENV_IMAGE_BUSYBOX,
      User: '65534:65534',
      Cmd: ['sh', '-c', 'while :; do sleep 1; done'],
      Labels: TEST_LABEL,
    })
    await source.start()
    try {
      const run = await transship(
        'migrate',
        name,
        '--from',
        env.TESTENV_HOST_A,
        '--to',
        env.TESTENV_HOST_B,
      )
      if (nonRoot?.ok) {
        expect(run.code, run.stderr).toBe(0)
      } else {
        expect(run.code).toBe(1)
        expect(run.stderr).toContain(nonRoot?.hint)
        expect(run.stderr).toContain('It keeps running, untouched')
      }
    } finally {
      for (const url of [env.TESTENV_HOST_A, env.TESTENV_HOST_B]) {
        await dockerAt(url)
          .getContainer(name)
          .remove({ force: true })
          .catch(() => undefined)
      }
    }
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
