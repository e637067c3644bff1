import { afterAll, describe, expect, it } from 'vitest'
import { dockerAt, removeTestContainers, TEST_LABEL } from '../support/docker.js'
import { testEnv } from '../support/testenv.js'

const env = testEnv()
const hosts = { A: dockerAt(env.TESTENV_HOST_A), B: dockerAt(env.TESTENV_HOST_B) }

describe('the two engines of the test environment', () => {
  afterAll(async () => {
    await Promise.all(Object.values(hosts).map(removeTestContainers))
  })

  it('are two distinct engines, both experimental, with the same data root path', async () => {
    const [a, b] = await Promise.all([hosts.A.info(), hosts.B.info()])
    expect(a.ID).not.toBe(b.ID)
    for (const info of [a, b]) {
      expect(info.ExperimentalBuild).toBe(true)
      expect(info.DockerRootDir).toBe('/var/lib/docker')
    }
  })

  it.each(Object.entries(hosts))('run a container on %s', async (_name, docker) => {
    const container = await docker.createContainer({
      Image: env.TESTENV_IMAGE_BUSYBOX,
      Cmd: ['sh', '-c', 'echo hello from $(hostname)'],
      Hostname: 'probe',
      Labels: TEST_LABEL,
    })
    await container.start()
    const { StatusCode } = await container.wait()
    const logs = await container.logs({ stdout: true, stderr: true })
    await container.remove()
    expect(StatusCode).toBe(0)
    expect(logs.toString()).toContain('hello from probe')
  })
})
