import type Docker from 'dockerode'
import { afterAll, describe, expect, it } from 'vitest'
import { dockerAt, execIn, removeTestContainers, TEST_LABEL } from '../support/docker.js'
import { testEnv } from '../support/testenv.js'

const env = testEnv()
const hostA = dockerAt(env.TESTENV_HOST_A)
const hostB = dockerAt(env.TESTENV_HOST_B)
const CHECKPOINT = 'foundation'

/**
 * A created, never-started container whose only purpose is to expose a directory of the
 * engine's host through the archive API (environment.md: no shell on the host needed).
 */
async function hostDirectory(docker: Docker, hostPath: string): Promise<Docker.Container> {
  return docker.createContainer({
    Image: env.TESTENV_IMAGE_BUSYBOX,
    Labels: TEST_LABEL,
    HostConfig: { Binds: [`${hostPath}:/mnt`] },
  })
}

async function redisCli(container: Docker.Container, ...args: string[]): Promise<string> {
  const result = await execIn(container, ['redis-cli', ...args])
  expect(result.exitCode, result.stderr).toBe(0)
  return result.stdout.trim()
}

describe('CRIU across the two engines', () => {
  afterAll(async () => {
    await Promise.all([hostA, hostB].map(removeTestContainers))
  })

  it('checkpoints a TCP server on A and restores it into a new container on B', async () => {
    const config = { Image: env.TESTENV_IMAGE_REDIS, Labels: TEST_LABEL }
    const source = await hostA.createContainer(config)
    await source.start()
    // redis-cli talks TCP to 127.0.0.1:6379: the listener must be up before the data goes in.
    await expect.poll(() => redisCli(source, 'ping'), { timeout: 10_000 }).toBe('PONG')
    await redisCli(source, 'set', 'only-in-memory', 'survives the move')

    await source.createCheckpoint({ CheckpointID: CHECKPOINT, Exit: true })
    expect((await source.inspect()).State.Running).toBe(false)

    // Copy <DockerRootDir>/containers/<id>/checkpoints/<name> from A to the new container
    // on B; Docker 20.10 refuses a custom checkpoint directory on start.
    const target = await hostB.createContainer(config)
    const from = await hostDirectory(hostA, `/var/lib/docker/containers/${source.id}/checkpoints`)
    const to = await hostDirectory(hostB, `/var/lib/docker/containers/${target.id}/checkpoints`)
    await to.putArchive(await from.getArchive({ path: `/mnt/${CHECKPOINT}` }), { path: '/mnt' })

    await startFromCheckpoint(target, CHECKPOINT)
    expect(await redisCli(target, 'get', 'only-in-memory')).toBe('survives the move')
    expect(await redisCli(target, 'ping')).toBe('PONG')
  })
})

/**
 * Docker 20.10 sometimes fails such a start with "content sha256:... already exists";
 * once more has always worked (environment.md).
 */
async function startFromCheckpoint(container: Docker.Container, checkpoint: string) {
  const start = () => container.start({ _query: { checkpoint }, _body: {} })
  try {
    await start()
  } catch (error) {
    if (!/already exists/.test(String(error))) throw error
    await start()
  }
}
