import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLines, transship } from '../test/support/cli.js'
import { dockerAt, execIn, removeTestContainers, TEST_LABEL } from '../test/support/docker.js'
import { testEnv } from '../test/support/testenv.js'

const run = promisify(execFile)
const env = testEnv()
const hostA = dockerAt(env.TESTENV_HOST_A)
const hostB = dockerAt(env.TESTENV_HOST_B)
const here = new URL('.', import.meta.url).pathname
const VOLUME = 'transship-example-data'

/** Runs an example the way its header says, and returns its stdout. */
async function example(file: string, args: string[]): Promise<string> {
  const { stdout } = await run('pnpm', ['exec', 'tsx', join(here, file), ...args], { cwd: here })
  return stdout
}

async function cleanUp() {
  await Promise.all([hostA, hostB].map(removeTestContainers))
  for (const docker of [hostA, hostB]) {
    const { Volumes } = await docker.listVolumes()
    await Promise.all(
      (Volumes ?? [])
        .filter((v) => v.Name.startsWith(VOLUME))
        .map((v) => docker.getVolume(v.Name).remove()),
    )
  }
}

describe('the examples run against real engines', () => {
  let staging: string
  beforeAll(async () => {
    await cleanUp()
    staging = await mkdtemp(join(tmpdir(), 'transship-examples-'))
  })
  afterAll(async () => {
    await cleanUp()
    await rm(staging, { recursive: true, force: true })
  })

  async function sourceContainer(name: string) {
    const container = await hostA.createContainer({
      name,
      Image: env.TESTENV_IMAGE_BUSYBOX,
      Cmd: ['sh', '-c', `echo ${name} > /data/hello; exec sleep 100000`],
      Labels: TEST_LABEL,
      HostConfig: { Binds: [`${VOLUME}:/data`] },
    })
    await container.start()
    await expect
      .poll(async () => (await execIn(container, ['cat', '/data/hello'])).stdout)
      .toBe(`${name}\n`)
    return container
  }

  it('volumes-only copies the volume and starts the container again', async () => {
    const source = await sourceContainer('example-volumes-only')
    const stdout = await example('volumes-only.ts', [
      '--container',
      'example-volumes-only',
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      env.TESTENV_HOST_B,
      '--via',
      `file://${staging}`,
    ])
    expect(JSON.parse(stdout.trim().split('\n').at(-1) ?? '')).toEqual({ [VOLUME]: VOLUME })
    expect((await source.inspect()).State.Running).toBe(true)
    const reader = await hostB.createContainer({
      Image: env.TESTENV_IMAGE_BUSYBOX,
      Cmd: ['cat', '/data/hello'],
      Labels: TEST_LABEL,
      HostConfig: { Binds: [`${VOLUME}:/data:ro`] },
    })
    await reader.start()
    await reader.wait()
    expect((await reader.logs({ stdout: true })).toString()).toContain('example-volumes-only')
    await cleanUp()
  })

  it('a transport of the user’s own, loaded with --transport-module, carries a migration through --via', async () => {
    await sourceContainer('example-memory-via')
    const module = join(here, 'transport-memory.ts')
    const args = [
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      env.TESTENV_HOST_B,
      '--via',
      'mem://staging',
    ]
    const unknown = await transship(['migrate', 'example-memory-via', ...args, '--no-checkpoint'])
    expect(unknown.code).not.toBe(0)
    expect(errorLines(unknown).join('\n')).toContain(
      'unsupported transport URL "mem://staging": expected file:///dir, scp://[user@]host[:port]/path or s3://bucket/prefix (another scheme needs its package: --transport-module SPEC)',
    )
    const result = await transship([
      'migrate',
      'example-memory-via',
      ...args,
      '--no-checkpoint',
      '--transport-module',
      module,
      '--json',
    ])
    expect(result.code, result.stderr).toBe(0)
    const summary = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '')
    expect(summary.backupUrl).toMatch(/^mem:\/\/staging\/backup-/)
    const target = hostB.getContainer('example-memory-via')
    expect((await target.inspect()).State.Running).toBe(true)
    expect((await execIn(target, ['cat', '/data/hello'])).stdout).toBe('example-memory-via\n')
    await cleanUp()
  })

  it('a module that exports no transport is refused, naming it', async () => {
    const result = await transship(['ls', 'mem://x', '--transport-module', 'node:path'])
    expect(result.code).not.toBe(0)
    expect(errorLines(result)).toEqual([
      '[transship] transport module "node:path" exports no transportSchemes: a list of { scheme, example, open(url, options) }',
    ])
  })

  it('migrate-with-check runs the user’s check and notification', async () => {
    await sourceContainer('example-with-check')
    const notifications = join(staging, 'moves.jsonl')
    const stdout = await example('migrate-with-check.ts', [
      '--container',
      'example-with-check',
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      env.TESTENV_HOST_B,
      '--notify',
      notifications,
    ])
    const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '')
    expect(summary.type).toBe('summary')
    const line = JSON.parse(await readFile(notifications, 'utf8'))
    expect(line.container).toBe('example-with-check')
    const target = hostB.getContainer(summary.target.id)
    expect((await target.inspect()).State.Running).toBe(true)
    expect((await execIn(target, ['cat', '/data/hello'])).stdout).toBe('example-with-check\n')
  })
})
