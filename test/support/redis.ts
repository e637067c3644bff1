import { expect } from 'vitest'
import { dockerAt, execIn, TEST_LABEL } from './docker.js'
import { testEnv } from './testenv.js'

/**
 * Starts a redis container on host A holding state in two places: a key only in memory,
 * and a file in the volume `volume`, both set to `name`.
 */
export async function redisWithState(name: string, volume: string): Promise<void> {
  const env = testEnv()
  const container = await dockerAt(env.TESTENV_HOST_A).createContainer({
    name,
    Image: env.TESTENV_IMAGE_REDIS,
    Labels: TEST_LABEL,
    HostConfig: { Binds: [`${volume}:/data`] },
  })
  await container.start()
  await expect
    .poll(async () => (await execIn(container, ['redis-cli', 'ping'])).stdout.trim())
    .toBe('PONG')
  await execIn(container, ['redis-cli', 'set', 'only-in-memory', name])
  await execIn(container, ['sh', '-c', `echo ${name} > /data/on-disk`])
}

/** Checks that container `name` on host B holds the state {@link redisWithState} gave it. */
export async function expectRedisStateOnB(name: string): Promise<void> {
  const target = dockerAt(testEnv().TESTENV_HOST_B).getContainer(name)
  expect((await execIn(target, ['redis-cli', 'get', 'only-in-memory'])).stdout.trim()).toBe(name)
  expect((await execIn(target, ['cat', '/data/on-disk'])).stdout.trim()).toBe(name)
}
