import type Docker from 'dockerode'
import { afterAll, describe, expect, it } from 'vitest'
import { dockerAt, execIn, removeTestContainers, TEST_LABEL } from '../support/docker.js'
import { testEnv } from '../support/testenv.js'

const env = testEnv()
const hosts = {
  A: dockerAt(env.TESTENV_HOST_A),
  B: dockerAt(env.TESTENV_HOST_B),
  /** Docker 26.1, beside the 20.10 engines A and B. */
  D: dockerAt(env.TESTENV_HOST_D),
}
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

describe('CRIU across the engines', () => {
  afterAll(async () => {
    await Promise.all(Object.values(hosts).map(removeTestContainers))
  })

  it.each([
    ['A', 'B'],
    ['A', 'D'],
    ['D', 'A'],
  ] as const)(
    'checkpoints a TCP server on %s and restores it into a new container on %s',
    async (from, to) => {
      const [source, target] = [hosts[from], hosts[to]]
      const config = { Image: env.TESTENV_IMAGE_REDIS, Labels: TEST_LABEL }
      const running = await source.createContainer(config)
      await running.start()
      // redis-cli talks TCP to 127.0.0.1:6379: the listener must be up before the data goes in.
      await expect.poll(() => redisCli(running, 'ping'), { timeout: 10_000 }).toBe('PONG')
      await redisCli(running, 'set', 'only-in-memory', `survives the move from ${from}`)

      await running.createCheckpoint({ CheckpointID: CHECKPOINT, Exit: true })
      expect((await running.inspect()).State.Running).toBe(false)

      // Copy <DockerRootDir>/containers/<id>/checkpoints/<name> to the new container on the
      // other engine; Docker 20.10 and 26.1 refuse a custom checkpoint directory on start.
      const restored = await target.createContainer(config)
      const sourceDir = await hostDirectory(
        source,
        `/var/lib/docker/containers/${running.id}/checkpoints`,
      )
      const targetDir = await hostDirectory(
        target,
        `/var/lib/docker/containers/${restored.id}/checkpoints`,
      )
      await targetDir.putArchive(await sourceDir.getArchive({ path: `/mnt/${CHECKPOINT}` }), {
        path: '/mnt',
      })

      await startFromCheckpoint(restored, CHECKPOINT)
      expect(await redisCli(restored, 'get', 'only-in-memory')).toBe(
        `survives the move from ${from}`,
      )
      expect(await redisCli(restored, 'ping')).toBe('PONG')
    },
  )

  it('checkpoints a process on D and restores it into the same container', async () => {
    const container = await hosts.D.createContainer({
      Image: env.TESTENV_IMAGE_BUSYBOX,
      Cmd: ['sh', '-c', 'i=0; while true; do i=$((i + 1)); echo $i > /tmp/count; sleep 0.1; done'],
      Labels: TEST_LABEL,
    })
    await container.start()
    const count = async () => Number((await execIn(container, ['cat', '/tmp/count'])).stdout)
    await expect.poll(count, { timeout: 10_000 }).toBeGreaterThan(20)

    await container.createCheckpoint({ CheckpointID: CHECKPOINT, Exit: true })
    expect((await container.inspect()).State.Running).toBe(false)

    await startFromCheckpoint(container, CHECKPOINT)
    // The shell's counter, only in its memory, goes on from where it was: a fresh start
    // would count from 1 again.
    const restored = await count()
    expect(restored).toBeGreaterThan(20)
    await expect.poll(count, { timeout: 10_000 }).toBeGreaterThan(restored)
  })
})

/**
 * Docker 20.10 and 26.1 sometimes fail such a start with "content sha256:... already
 * exists" (moby#42900); on 26.1 an immediate second start fails again at times, one a
 * second later has always worked (environment.md, modern-engine.md).
 */
async function startFromCheckpoint(container: Docker.Container, checkpoint: string) {
  const start = () => container.start({ _query: { checkpoint }, _body: {} })
  for (let attempt = 1; ; attempt++) {
    try {
      await start()
      return
    } catch (error) {
      if (!/already exists/.test(String(error)) || attempt === 3) throw error
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
  }
}
