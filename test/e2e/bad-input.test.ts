import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type Docker from 'dockerode'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { labelledVolumes, removeLabelled } from '../support/cleanup.js'
import {
  type CliResult,
  errorLines,
  lastStdoutLine,
  linesOf,
  startTransship,
  startTransshipDirectly,
  transship,
} from '../support/cli.js'
import { createIdleContainer, mountAt } from '../support/containers.js'
import { dockerAt, TEST_LABEL } from '../support/docker.js'
import { runOnce } from '../support/runOnce.js'
import {
  backupDirOf,
  editManifest,
  filesUnder,
  replaceArtifact,
  StagingDirs,
} from '../support/staging.js'
import { type TarMember, tarOf } from '../support/tarFiles.js'
import { testEnv } from '../support/testenv.js'
import { fillVolumes } from '../support/volumeContent.js'
import { type ListedEntry, listVolume } from '../support/volumeListing.js'

const env = testEnv()
const A = dockerAt(env.TESTENV_HOST_A)
const B = dockerAt(env.TESTENV_HOST_B)
const IMAGE = env.TESTENV_IMAGE_BUSYBOX
/** On everything this file creates (with TEST_LABEL): cleanup by label. */
const LABELS = { ...TEST_LABEL, 'transship.test.file': 'e2e/bad-input' }
const PREFIX = `e2e-bad-${randomBytes(3).toString('hex')}`
const RESTART_POLICY = { Name: 'unless-stopped', MaximumRetryCount: 0 }
const NO_ENGINE = 'unix:///nonexistent.sock'
const staging = new StagingDirs(PREFIX)

/** A running container on A with one named volume at /data, filled; and how it was. */
interface Source {
  readonly name: string
  readonly volume: string
  readonly container: Docker.Container
  readonly inspect: Docker.ContainerInspectInfo
  readonly listing: ListedEntry[]
}

async function runningSource(
  suffix: string,
  options: { largeMiB?: number; slowToStop?: boolean } = {},
): Promise<Source> {
  const name = `${PREFIX}-${suffix}`
  const volume = `${name}-data`
  await A.createVolume({ Name: volume, Labels: LABELS })
  const container = await createIdleContainer(A, {
    name,
    image: IMAGE,
    labels: LABELS,
    binds: [`${volume}:/data`],
    restartPolicy: RESTART_POLICY,
    ...(options.slowToStop ? { slowToStop: true } : {}),
  })
  await fillVolumes(A, IMAGE, [{ name: volume, largeMiB: options.largeMiB ?? 1 }])
  await container.start()
  const [inspect, listing] = await Promise.all([container.inspect(), listVolume(A, IMAGE, volume)])
  return { name, volume, container, inspect, listing }
}

/** `transship migrate` A → B, cold, through staging at `via`, or straight without it. */
function migrate(name: string, via: string | undefined, ...extra: string[]): string[] {
  return [
    'migrate',
    name,
    '--from',
    env.TESTENV_HOST_A,
    '--to',
    env.TESTENV_HOST_B,
    ...(via ? ['--via', via] : []),
    '--no-checkpoint',
    ...extra,
  ]
}

/**
 * `backup --leave-running --no-encrypt` of a source on A: a plain backup, which these tests
 * break on purpose (`restore --insecure` then checks it as far as it can).
 *
 * @return the backup's URL.
 */
async function backupOf(source: Source): Promise<string> {
  const { url } = await staging.make()
  const result = await transship([
    'backup',
    source.name,
    '--from',
    env.TESTENV_HOST_A,
    '--via',
    url,
    '--leave-running',
    '--no-encrypt',
  ])
  expect(errorLines(result)).toEqual([])
  expect(result.code, result.stderr).toBe(0)
  return lastStdoutLine(result)
}

function restoreOnB(url: string): Promise<CliResult> {
  return transship(['restore', url, '--to', env.TESTENV_HOST_B, '--insecure'])
}

/**
 * The command failed with one error line, its last line on stderr, that mentions each of
 * `mentions`.
 */
function expectOneErrorLine(result: CliResult, ...mentions: string[]): string {
  expect(result.code, result.stderr).not.toBe(0)
  expect(result.code, 'exited by a signal').not.toBeNull()
  const errors = errorLines(result)
  expect(errors, result.stderr).toHaveLength(1)
  const [error] = errors as [string]
  expect(linesOf(result.stderr).at(-1), 'the error line ends stderr').toBe(error)
  for (const mention of mentions) expect(error).toContain(mention)
  return error
}

/** The source runs as before: never stopped (same start time), same restart policy. */
async function expectUntouched(source: Source): Promise<void> {
  const now = await source.container.inspect()
  expect(now.State.Running).toBe(true)
  expect(now.State.StartedAt).toBe(source.inspect.State.StartedAt)
  expect(now.HostConfig.RestartPolicy).toEqual(RESTART_POLICY)
  expect(await listVolume(A, IMAGE, source.volume)).toEqual(source.listing)
}

/** The source runs again, with its restart policy, and its volume as it was. */
async function expectPutBack(source: Source): Promise<void> {
  const now = await source.container.inspect()
  expect(now.State.Running).toBe(true)
  expect(now.HostConfig.RestartPolicy).toEqual(RESTART_POLICY)
  expect(await listVolume(A, IMAGE, source.volume)).toEqual(source.listing)
}

/** B holds no container named `name`, no volume of this file, no helper for one. */
async function expectNothingOnB(name: string): Promise<void> {
  const named = await B.listContainers({ all: true, filters: { name: [`^/${name}$`] } })
  expect(named.map((container) => container.Names)).toEqual([])
  expect(await labelledVolumes(B, LABELS)).toEqual([])
  const helpers = await B.listContainers({ all: true, filters: { label: ['transship.helper'] } })
  expect(helpers.filter((helper) => helper.Labels['transship.helper']?.includes(PREFIX))).toEqual(
    [],
  )
}

afterEach(async () => {
  await Promise.all([removeLabelled(A, LABELS), removeLabelled(B, LABELS)])
})

afterAll(async () => {
  await staging.removeAll()
})

describe('bad input gets one clear error line, and nothing is lost', () => {
  it('an unknown container: the error names it and the engine', async () => {
    const name = `${PREFIX}-nosuch`
    const { dir, url } = await staging.make()
    const result = await transship(migrate(name, url))
    expectOneErrorLine(result, `"${name}"`, 'not found', env.TESTENV_HOST_A)
    expect(await filesUnder(dir)).toEqual([])
    await expectNothingOnB(name)
  })

  it('an unreachable destination engine: the error names it, and the source is not stopped', async () => {
    const source = await runningSource('unreachable-to')
    const { dir, url } = await staging.make()
    const result = await transship([
      'migrate',
      source.name,
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      NO_ENGINE,
      '--via',
      url,
      '--no-checkpoint',
    ])
    expectOneErrorLine(result, NO_ENGINE)
    await expectUntouched(source)
    expect(await filesUnder(dir)).toEqual([])
  })

  it('an unreachable source engine: the error names it', async () => {
    const name = `${PREFIX}-unreachable-from`
    const { dir, url } = await staging.make()
    const result = await transship([
      'migrate',
      name,
      '--from',
      NO_ENGINE,
      '--to',
      env.TESTENV_HOST_B,
      '--via',
      url,
      '--no-checkpoint',
    ])
    expectOneErrorLine(result, NO_ENGINE)
    expect(await filesUnder(dir)).toEqual([])
    await expectNothingOnB(name)
  })

  it('a volume name taken at the destination: the error names it, the source keeps running, both volumes stay as they were; --on-conflict rename then works', async () => {
    const source = await runningSource('taken')
    await B.createVolume({ Name: source.volume, Labels: LABELS })
    await runOnce(B, {
      image: IMAGE,
      cmd: ['sh', '-c', 'echo "B was here first" > /v/mine.txt'],
      hostConfig: { Binds: [`${source.volume}:/v`] },
    })
    const takenOnB = await listVolume(B, IMAGE, source.volume)

    const { dir, url } = await staging.make()
    const failed = await transship(migrate(source.name, url))
    expectOneErrorLine(failed, `volume ${source.volume}`, env.TESTENV_HOST_B, '--on-conflict')
    await expectUntouched(source)
    expect(await listVolume(B, IMAGE, source.volume)).toEqual(takenOnB)
    expect(await B.listContainers({ all: true, filters: { name: [`^/${source.name}$`] } })).toEqual(
      [],
    )
    expect(await filesUnder(dir)).toEqual([])

    const renamed = await transship(migrate(source.name, url, '--on-conflict', 'rename'))
    expect(errorLines(renamed)).toEqual([])
    expect(renamed.code, renamed.stderr).toBe(0)
    const target = await B.getContainer(source.name).inspect()
    const copy = mountAt(target, '/data').Name as string
    expect(copy).toMatch(new RegExp(`^${source.volume}-[0-9a-f]{6}$`))
    expect(await listVolume(B, IMAGE, copy)).toEqual(source.listing)
    expect(await listVolume(B, IMAGE, source.volume)).toEqual(takenOnB)
  })

  it('a corrupted artifact: the restore fails on its sha256 and leaves nothing on B', async () => {
    const source = await runningSource('corrupt')
    const url = await backupOf(source)
    const tarPath = join(backupDirOf(url), 'volumes/0.tar')
    const tar = await readFile(tarPath)
    // A byte of a file's content, not of a header: only the checksum can tell.
    const content = Buffer.from('héllo wörld')
    const at = tar.indexOf(content)
    expect(at).toBeGreaterThan(0)
    expect(tar.lastIndexOf(content)).toBe(at)
    tar[at] = (tar[at] as number) ^ 0x20
    await writeFile(tarPath, tar)

    const result = await restoreOnB(url)
    expectOneErrorLine(result, 'volumes/0.tar', 'sha256')
    await expectNothingOnB(source.name)
  })

  it('a manifest that breaks the schema: the error lists the fields at fault', async () => {
    const source = await runningSource('schema')
    const url = await backupOf(source)
    await editManifest(backupDirOf(url), (manifest) => {
      manifest.volumes[0].readOnly = 'yes'
      delete manifest.artifacts[0].sha256
    })

    const result = await restoreOnB(url)
    expectOneErrorLine(result, 'manifest', 'volumes[0].readOnly', 'artifacts[0].sha256')
    await expectNothingOnB(source.name)
  })

  const unsafeEntries: [string, string, TarMember[]][] = [
    ['a name with ../', 'volume/../escaped.txt', [{ name: 'volume/../escaped.txt', content: 'x' }]],
    [
      'a symlink that leads out of the volume',
      'volume/link',
      [
        { name: 'volume/link', type: 'symlink', linkname: '../../../etc' },
        { name: 'volume/link/escaped.txt', content: 'x' },
      ],
    ],
  ]
  it.each(unsafeEntries)(
    'an archive entry with %s: the restore refuses it by name and leaves nothing on B',
    async (_what, entry, members) => {
      const source = await runningSource(`unsafe-${randomBytes(2).toString('hex')}`)
      const url = await backupOf(source)
      const archive = await tarOf([
        { name: 'volume/', type: 'directory' },
        { name: 'volume/fine.txt', content: 'an ordinary file first' },
        ...members,
      ])
      await replaceArtifact(backupDirOf(url), 'volumes/0.tar', archive)

      const result = await restoreOnB(url)
      const error = expectOneErrorLine(result, 'refusing', JSON.stringify(entry))
      expect(error).not.toMatch(/sha256|corrupt/)
      await expectNothingOnB(source.name)
    },
  )
})

describe('the source is put back after a failure mid-migration', () => {
  it('the target removed at the destination while the source stops: the migration fails after the freeze, the source runs again with its restart policy', async () => {
    // It ignores SIGTERM: stopping takes 10 s, time to remove the target on B meanwhile.
    const source = await runningSource('late-failure', { slowToStop: true })
    const { dir, url } = await staging.make()
    const run = startTransship(migrate(source.name, url))
    await run.waitForOutput(/^stop-source\.\.\.$/m)
    await B.getContainer(source.name).remove({ force: true })

    const result = await run.result
    expectOneErrorLine(result, source.name, env.TESTENV_HOST_B)
    await expectPutBack(source)
    expect(await filesUnder(dir)).toEqual([])
    expect(await B.listContainers({ all: true, filters: { name: [`^/${source.name}$`] } })).toEqual(
      [],
    )
    expect(await B.listVolumes({ filters: { name: [source.volume] } })).toMatchObject({
      Volumes: [],
    })
  })

  it.each([
    ['through staging', true],
    ['straight to B', false],
  ])(
    'interrupted while the volume is copied %s: the source runs on, nothing is left on B',
    async (_, staged) => {
      const source = await runningSource(`interrupted-${staged ? 'staged' : 'direct'}`, {
        largeMiB: 64,
      })
      const { dir, url } = await staging.make()
      // One Node process, without pnpm in between: the signal reaches transship once.
      const run = startTransshipDirectly(migrate(source.name, staged ? url : undefined))
      // Once bytes flow: the helper at A is then writing faster than anyone reads.
      await run.waitForOutput(/^ {2}volume .*: \d/m)
      run.child.kill('SIGTERM')

      const result = await run.result
      expectOneErrorLine(result, 'interrupted')
      await expectPutBack(source)
      await expectNothingOnB(source.name)
      const helpersOnA = await A.listContainers({
        all: true,
        filters: { label: ['transship.helper'] },
      })
      expect(
        helpersOnA.filter((helper) => helper.Labels['transship.helper']?.includes(PREFIX)),
      ).toEqual([])
      expect(await filesUnder(dir)).toEqual([])
    },
  )
})
