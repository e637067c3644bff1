import { randomBytes } from 'node:crypto'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type Docker from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeDeviceDir, removeDeviceDir, removeLabelled } from '../support/cleanup.js'
import { type CliResult, lastStdoutLine, linesOf, transship } from '../support/cli.js'
import { anonymousVolume, createIdleContainer, mountAt } from '../support/containers.js'
import { dockerAt, execIn, TEST_LABEL } from '../support/docker.js'
import { StagingDirs } from '../support/staging.js'
import { testEnv } from '../support/testenv.js'
import { expectEveryKindOfContent, fillVolumes } from '../support/volumeContent.js'
import { type ListedEntry, listVolume } from '../support/volumeListing.js'

const env = testEnv()
const A = dockerAt(env.TESTENV_HOST_A)
const B = dockerAt(env.TESTENV_HOST_B)
const IMAGE = env.TESTENV_IMAGE_BUSYBOX
/** On everything this file creates (with TEST_LABEL): cleanup by label. */
const LABELS = { ...TEST_LABEL, 'transship.test.file': 'e2e/volumes' }
const PREFIX = `e2e-vol-${randomBytes(3).toString('hex')}`
const ON_FAILURE = { Name: 'on-failure', MaximumRetryCount: 3 }

const staging = new StagingDirs(PREFIX)

/** Every file and directory under `dir`, relative, with its permission bits. */
async function modesUnder(dir: string): Promise<Record<string, string>> {
  const modes: Record<string, string> = {}
  for (const entry of await readdir(dir, { recursive: true })) {
    modes[entry] = ((await stat(join(dir, entry))).mode & 0o777).toString(8)
  }
  return modes
}

function expectSuccess(result: CliResult): void {
  expect(result.stderr, 'transship failed').not.toMatch(/^\[transship\]/m)
  expect(result.code, result.stderr).toBe(0)
}

afterAll(async () => {
  await Promise.all([removeLabelled(A, LABELS), removeLabelled(B, LABELS)])
  await Promise.all([
    removeDeviceDir(A, IMAGE, `${PREFIX}-opts`),
    removeDeviceDir(B, IMAGE, `${PREFIX}-opts`),
  ])
  await staging.removeAll()
})

describe('migrate A → B: a container with a read-only volume, a volume with labels and driver options, and an anonymous volume', () => {
  const name = `${PREFIX}-full`
  const ro = `${PREFIX}-ro`
  const opts = `${PREFIX}-opts`
  const paths = { ro: '/srv/ro', opts: '/srv/opts', anon: '/srv/anon' }
  let stagingDir: string
  let result: CliResult
  let anonymousOnA: string
  let optsOnA: Docker.VolumeInspectInfo
  const before: Record<string, ListedEntry[]> = {}

  beforeAll(async () => {
    const [deviceA] = await Promise.all([
      makeDeviceDir(A, IMAGE, opts),
      makeDeviceDir(B, IMAGE, opts),
    ])
    await A.createVolume({ Name: ro, Labels: LABELS })
    await A.createVolume({
      Name: opts,
      Driver: 'local',
      DriverOpts: { type: 'none', o: 'bind', device: deviceA },
      Labels: { ...LABELS, 'e2e.role': 'options', 'e2e.note': 'a value with spaces' },
    })
    const source = await createIdleContainer(A, {
      name,
      image: IMAGE,
      labels: LABELS,
      binds: [`${ro}:${paths.ro}:ro`, `${opts}:${paths.opts}`],
      // An anonymous volume, labelled so that cleanup finds it (and its copy on B).
      mounts: [anonymousVolume(paths.anon, LABELS)],
      restartPolicy: ON_FAILURE,
    })
    anonymousOnA = mountAt(await source.inspect(), paths.anon).Name as string
    await fillVolumes(A, IMAGE, [
      { name: ro, largeMiB: 2 },
      { name: opts, largeMiB: 40 },
      { name: anonymousOnA, largeMiB: 1 },
    ])
    await source.start()
    optsOnA = await A.getVolume(opts).inspect()
    for (const [key, volume] of Object.entries({ ro, opts, anon: anonymousOnA })) {
      before[key] = await listVolume(A, IMAGE, volume)
    }

    const { dir, url } = await staging.make()
    stagingDir = dir
    result = await transship([
      'migrate',
      name,
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      env.TESTENV_HOST_B,
      '--via',
      url,
      '--no-checkpoint',
    ])
  })

  it('succeeds, saying where the container went', () => {
    expectSuccess(result)
    expect(lastStdoutLine(result)).toContain(`migrated ${name} to ${env.TESTENV_HOST_B}`)
  })

  it('migrates every kind of content, equal on B as listed inside containers', async () => {
    expectSuccess(result)
    expectEveryKindOfContent(before.ro ?? [], 2)
    expectEveryKindOfContent(before.opts ?? [], 40)
    expectEveryKindOfContent(before.anon ?? [], 1)
    const target = await B.getContainer(name).inspect()
    for (const [key, path] of Object.entries(paths)) {
      const volume = mountAt(target, path).Name as string
      expect(await listVolume(B, IMAGE, volume), `volume at ${path}`).toEqual(before[key])
    }
  })

  it('mounts the read-only volume read-only on B, the others read-write', async () => {
    expectSuccess(result)
    const target = B.getContainer(name)
    const inspect = await target.inspect()
    expect(mountAt(inspect, paths.ro)).toMatchObject({ Name: ro, RW: false })
    expect(mountAt(inspect, paths.opts)).toMatchObject({ Name: opts, RW: true })
    expect(mountAt(inspect, paths.anon)).toMatchObject({ RW: true })
    const write = await execIn(target, ['touch', `${paths.ro}/written-on-b`])
    expect(write.exitCode).not.toBe(0)
    expect(write.stderr).toMatch(/read-only file system/i)
  })

  it('keeps labels, driver and driver options; the content stays in the bind device on B', async () => {
    expectSuccess(result)
    const optsOnB = await B.getVolume(opts).inspect()
    expect(optsOnB.Driver).toBe('local')
    expect(optsOnB.Labels).toEqual(optsOnA.Labels)
    expect(optsOnB.Options).toEqual(optsOnA.Options)
    expect((await B.getVolume(ro).inspect()).Labels).toEqual(LABELS)
    // Mounted through the bind device from another container: the content persists there.
    const listed = await listVolume(B, IMAGE, opts)
    expect(listed.find((entry) => entry.path === './large.bin')?.size).toBe(40 * 1048576)
  })

  it('gives the anonymous volume a fresh name on B, with its labels', async () => {
    expectSuccess(result)
    const target = await B.getContainer(name).inspect()
    const anonymousOnB = mountAt(target, paths.anon).Name as string
    expect(anonymousOnB).toMatch(/^[0-9a-f]{64}$/)
    expect(anonymousOnB).not.toBe(anonymousOnA)
    expect((await B.getVolume(anonymousOnB).inspect()).Labels).toEqual(LABELS)
  })

  it("leaves the source's volumes unchanged", async () => {
    expectSuccess(result)
    for (const [key, volume] of Object.entries({ ro, opts, anon: anonymousOnA })) {
      expect(await listVolume(A, IMAGE, volume), `volume ${volume}`).toEqual(before[key])
    }
  })

  it('leaves the source stopped with restart policy no; the target runs with the original policy', async () => {
    expectSuccess(result)
    const source = await A.getContainer(name).inspect()
    expect(source.State.Running).toBe(false)
    expect(source.HostConfig.RestartPolicy).toMatchObject({ Name: 'no' })
    const target = await B.getContainer(name).inspect()
    expect(target.State.Running).toBe(true)
    expect(target.HostConfig.RestartPolicy).toEqual(ON_FAILURE)
  })

  it('empties the staging directory once the target runs', async () => {
    expectSuccess(result)
    expect(await readdir(stagingDir)).toEqual([])
  })
})

describe('migrate --keep-backup', () => {
  const name = `${PREFIX}-keep`

  it('keeps the staged backup, its files readable by their owner only', async () => {
    await A.createVolume({ Name: `${name}-data`, Labels: LABELS })
    const source = await createIdleContainer(A, {
      name,
      image: IMAGE,
      labels: LABELS,
      binds: [`${name}-data:/data`],
    })
    await fillVolumes(A, IMAGE, [{ name: `${name}-data`, largeMiB: 1 }])
    await source.start()
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
      '--keep-backup',
    ])
    expectSuccess(result)
    const [backupId, ...others] = await readdir(dir)
    expect(others).toEqual([])
    expect(lastStdoutLine(result)).toContain(`backup kept at ${url}/${backupId}`)
    const modes = await modesUnder(dir)
    expect(Object.keys(modes)).toEqual(
      expect.arrayContaining([
        `${backupId}`,
        `${backupId}/manifest.json`,
        `${backupId}/volumes`,
        `${backupId}/volumes/0.tar`,
      ]),
    )
    for (const [path, mode] of Object.entries(modes)) {
      const isDirectory = (await stat(join(dir, path))).isDirectory()
      expect(mode, path).toBe(isDirectory ? '700' : '600')
    }
  })
})

describe('the split form: backup on A, restore on B', () => {
  const name = `${PREFIX}-split`
  const restartPolicy = { Name: 'unless-stopped', MaximumRetryCount: 0 }
  let source: Docker.Container
  let before: ListedEntry[]

  beforeAll(async () => {
    await A.createVolume({ Name: `${name}-data`, Labels: LABELS })
    source = await createIdleContainer(A, {
      name,
      image: IMAGE,
      labels: LABELS,
      binds: [`${name}-data:/data`],
      restartPolicy,
    })
    await fillVolumes(A, IMAGE, [{ name: `${name}-data`, largeMiB: 3 }])
    await source.start()
    before = await listVolume(A, IMAGE, `${name}-data`)
  })

  it('backup --leave-running --json: the source runs again as it was; the last event carries the URL', async () => {
    const { dir, url: via } = await staging.make()
    const result = await transship([
      'backup',
      name,
      '--from',
      env.TESTENV_HOST_A,
      '--via',
      via,
      '--leave-running',
      '--json',
    ])
    expectSuccess(result)
    const events = linesOf(result.stdout).map((line) => JSON.parse(line) as Record<string, unknown>)
    const last = events.at(-1)
    expect(last).toMatchObject({ type: 'summary', backupUrl: expect.stringMatching(`^${via}/`) })
    const backupId = String(last?.backupUrl).slice(via.length + 1)
    expect(await readdir(join(dir, backupId))).toContain('manifest.json')
    const inspect = await source.inspect()
    expect(inspect.State.Running).toBe(true)
    expect(inspect.HostConfig.RestartPolicy).toEqual(restartPolicy)
  })

  it('backup prints the URL last on stdout and leaves the source stopped; restore URL --to B brings it up there', async () => {
    const { dir, url: via } = await staging.make()
    const backup = await transship(['backup', name, '--from', env.TESTENV_HOST_A, '--via', via])
    expectSuccess(backup)
    const url = lastStdoutLine(backup)
    expect(url).toMatch(new RegExp(`^${via}/backup-`))
    const stopped = await source.inspect()
    expect(stopped.State.Running).toBe(false)
    expect(stopped.HostConfig.RestartPolicy).toMatchObject({ Name: 'no' })

    const restore = await transship(['restore', url, '--to', env.TESTENV_HOST_B])
    expectSuccess(restore)
    const target = await B.getContainer(name).inspect()
    expect(target.State.Running).toBe(true)
    expect(target.HostConfig.RestartPolicy).toEqual(restartPolicy)
    expect(await listVolume(B, IMAGE, mountAt(target, '/data').Name as string)).toEqual(before)
    // restore leaves the backup where it is.
    expect(await readdir(dir)).toEqual([url.slice(via.length + 1)])
  })
})
