import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { afterAll, describe, expect, it } from 'vitest'
import { removeLabelled } from '../support/cleanup.js'
import { type CliResult, linesOf, transship } from '../support/cli.js'
import { createIdleContainer, IDLE_COMMAND, mountAt } from '../support/containers.js'
import { dockerAt, TEST_LABEL } from '../support/docker.js'
import { StagingDirs } from '../support/staging.js'
import { testEnv } from '../support/testenv.js'
import { expectEveryKindOfContent, fillVolumes } from '../support/volumeContent.js'
import { listVolume } from '../support/volumeListing.js'

const env = testEnv()
const A = dockerAt(env.TESTENV_HOST_A)
const B = dockerAt(env.TESTENV_HOST_B)
const IMAGE = env.TESTENV_IMAGE_BUSYBOX
/** On everything this file creates (with TEST_LABEL): cleanup by label. */
const LABELS = { ...TEST_LABEL, 'transship.test.file': 'e2e/non-errors' }
const PREFIX = `e2e-ok-${randomBytes(3).toString('hex')}`

const staging = new StagingDirs(PREFIX)

/** `transship migrate NAME --from A --to B --via <fresh dir> --no-checkpoint --json`. */
async function migrateToB(name: string): Promise<{ result: CliResult; events: JsonEvent[] }> {
  const { dir, url } = await staging.make()
  const result = await transship([
    'migrate',
    name,
    '--from',
    env.TESTENV_HOST_A,
    '--to',
    env.TESTENV_HOST_B,
    '--via',
    url,
    '--no-checkpoint',
    '--json',
  ])
  expect(result.stderr, 'transship failed').not.toMatch(/^\[transship\]/m)
  expect(result.code, result.stderr).toBe(0)
  expect(await readdir(dir)).toEqual([])
  return { result, events: linesOf(result.stdout).map((line) => JSON.parse(line) as JsonEvent) }
}

interface JsonEvent {
  readonly type: string
  readonly message?: string
  readonly bytes?: number
  readonly warnings?: string[]
}

afterAll(async () => {
  await Promise.all([removeLabelled(A, LABELS), removeLabelled(B, LABELS)])
  await staging.removeAll()
})

describe('not errors', () => {
  it('a container without volumes migrates its configuration only', async () => {
    const name = `${PREFIX}-novolumes`
    const source = await A.createContainer({
      name,
      Image: IMAGE,
      Cmd: [...IDLE_COMMAND],
      Env: ['E2E_GREETING=hello world'],
      WorkingDir: '/home/app',
      User: '1000:1000',
      Labels: { ...LABELS, 'e2e.role': 'no volumes' },
      HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 0 } },
    })
    await source.start()

    const { events } = await migrateToB(name)

    expect(events.filter((event) => event.type === 'progress')).toEqual([])
    expect(events.filter((event) => event.type === 'warning')).toEqual([])
    expect(events.at(-1)).toMatchObject({ type: 'summary', bytes: 0, warnings: [] })
    const [before, target] = await Promise.all([source.inspect(), B.getContainer(name).inspect()])
    expect(target.State.Running).toBe(true)
    expect(target.Mounts).toEqual([])
    expect(target.HostConfig.RestartPolicy).toEqual({ Name: 'always', MaximumRetryCount: 0 })
    for (const key of ['Cmd', 'Env', 'WorkingDir', 'User', 'Labels'] as const) {
      expect(target.Config[key], key).toEqual(before.Config[key])
    }
    expect(before.State.Running).toBe(false)
    expect(before.HostConfig.RestartPolicy).toMatchObject({ Name: 'no' })
  })

  it(`a volume of another driver (${env.TESTENV_VOLUME_PLUGIN}) migrates its content and keeps its driver, with a warning`, async () => {
    const name = `${PREFIX}-plugin`
    const volume = `${PREFIX}-plugin-data`
    const driver = env.TESTENV_VOLUME_PLUGIN
    await A.createVolume({
      Name: volume,
      Driver: driver,
      DriverOpts: { flavour: 'test', size: '1g' },
      Labels: { ...LABELS, 'e2e.role': 'plugin' },
    })
    const source = await createIdleContainer(A, {
      name,
      image: IMAGE,
      labels: LABELS,
      binds: [`${volume}:/srv/plugin`],
    })
    await fillVolumes(A, IMAGE, [{ name: volume, largeMiB: 4 }])
    await source.start()
    const listedOnA = await listVolume(A, IMAGE, volume)
    expectEveryKindOfContent(listedOnA, 4)

    const { events } = await migrateToB(name)

    const warnings = events.filter((event) => event.type === 'warning')
    expect(warnings).toEqual([
      expect.objectContaining({
        message: expect.stringContaining(`volume ${volume} uses driver ${driver}`),
      }),
    ])
    const target = await B.getContainer(name).inspect()
    expect(target.State.Running).toBe(true)
    expect(mountAt(target, '/srv/plugin')).toMatchObject({ Name: volume, Driver: driver, RW: true })
    const [onA, onB] = await Promise.all([
      A.getVolume(volume).inspect(),
      B.getVolume(volume).inspect(),
    ])
    expect(onB.Driver).toBe(driver)
    expect(onB.Options).toEqual(onA.Options)
    expect(onB.Labels).toEqual(onA.Labels)
    expect(await listVolume(B, IMAGE, volume)).toEqual(listedOnA)
  })
})
