import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { transship } from '../support/cli.js'
import {
  dockerAt,
  removeTestContainers,
  removeTestContainersAndVolumes,
  TEST_LABEL,
} from '../support/docker.js'
import { testEnv } from '../support/testenv.js'

const env = testEnv()
const hostA = dockerAt(env.TESTENV_HOST_A)
const hostB = dockerAt(env.TESTENV_HOST_B)
const NAME = 'transship-plan-test'
const VOLUME = 'transship-plan-data'

/** What a plan must leave as it was: the source's state, and nothing of it on B. */
async function snapshot() {
  const source = await hostA.getContainer(NAME).inspect()
  const onB = await hostB.listContainers({ all: true, filters: { name: [NAME] } })
  const volumesOnB = (await hostB.listVolumes()).Volumes?.filter((v) => v.Name === VOLUME) ?? []
  return {
    source: [source.State.Status, source.State.StartedAt, source.HostConfig.RestartPolicy?.Name],
    onB: onB.length + volumesOnB.length,
  }
}

describe('transship plan', () => {
  beforeAll(async () => {
    await removeTestContainers(hostA)
    const container = await hostA.createContainer({
      name: NAME,
      Image: env.TESTENV_IMAGE_BUSYBOX,
      Cmd: [
        'sh',
        '-c',
        'head -c 3145728 /dev/zero > /data/f; echo x > /bin/added; rm /bin/ls; exec sleep 100000',
      ],
      Labels: TEST_LABEL,
      HostConfig: { Binds: [`${VOLUME}:/data`, '/etc:/hostetc:ro'] },
    })
    await container.start()
    // The command writes the layer and the volume: wait until it did.
    for (let tries = 0; (await container.changes())?.length < 3; tries++) {
      if (tries > 100) throw new Error('the plan test container did not write its layer')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })
  afterAll(async () => {
    await removeTestContainersAndVolumes([hostA, hostB], [VOLUME])
  })

  it('prints what would move, with sizes and warnings, and changes nothing', async () => {
    const before = await snapshot()
    const result = await transship([
      'plan',
      NAME,
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      env.TESTENV_HOST_B,
      '--json',
    ])
    expect(result.code, result.stderr).toBe(0)
    const plan = JSON.parse(result.stdout)
    expect(plan.volumes).toEqual([
      expect.objectContaining({
        name: VOLUME,
        destination: '/data',
        copied: true,
        size: 3 * 1024 * 1024,
      }),
    ])
    expect(plan.layer).toMatchObject({ method: 'overlay2', changes: { deleted: 1 } })
    expect(plan.layer.changes.added).toBeGreaterThanOrEqual(1)
    expect(plan.image).toMatchObject({ reference: env.TESTENV_IMAGE_BUSYBOX, travels: false })
    expect(plan.warnings).toEqual([expect.stringContaining('bind mount at /hostetc is not copied')])
    expect(plan.problems).toEqual([])
    expect(await snapshot()).toEqual(before)
    expect(before.onB).toBe(0)
  })

  it('names what would stop the migration, and exits 1', async () => {
    await hostB.createVolume({ Name: VOLUME })
    const result = await transship([
      'plan',
      NAME,
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      env.TESTENV_HOST_B,
    ])
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(
      new RegExp(`volume ${VOLUME} already exists on ${env.TESTENV_HOST_B}`),
    )
    expect((await hostA.getContainer(NAME).inspect()).State.Running).toBe(true)
  })
})
