import { afterAll, describe, expect, it } from 'vitest'
import { dockerAt, removeTestContainers, TEST_LABEL } from '../support/docker.js'
import { testEnv } from '../support/testenv.js'

const env = testEnv()
const hosts = {
  A: dockerAt(env.TESTENV_HOST_A),
  B: dockerAt(env.TESTENV_HOST_B),
  D: dockerAt(env.TESTENV_HOST_D),
}

/** [major, minor] of a version such as "26.1.5+dfsg1" or an API version "1.45". */
function majorMinor(version: string): [number, number] {
  const match = /^(\d+)\.(\d+)/.exec(version)
  if (!match) throw new Error(`not a version: ${version}`)
  return [Number(match[1]), Number(match[2])]
}

describe('the engines of the test environment', () => {
  afterAll(async () => {
    await Promise.all(Object.values(hosts).map(removeTestContainers))
  })

  it('are distinct engines, all experimental, with the same data root path', async () => {
    const infos = await Promise.all(Object.values(hosts).map((docker) => docker.info()))
    expect(new Set(infos.map((info) => info.ID)).size).toBe(infos.length)
    for (const info of infos) {
      expect(info.ExperimentalBuild).toBe(true)
      expect(info.DockerRootDir).toBe('/var/lib/docker')
    }
  })

  it('A and B run Docker 20.10 (API 1.41), D a current Docker (25 or newer, API 1.44 or newer)', async () => {
    const [a, b, d] = await Promise.all([hosts.A.version(), hosts.B.version(), hosts.D.version()])
    for (const version of [a, b]) {
      expect(majorMinor(version.Version)).toEqual([20, 10])
      expect(version.ApiVersion).toBe('1.41')
    }
    expect(majorMinor(d.Version)[0]).toBeGreaterThanOrEqual(25)
    const [apiMajor, apiMinor] = majorMinor(d.ApiVersion)
    expect(apiMajor).toBe(1)
    expect(apiMinor).toBeGreaterThanOrEqual(44)
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
