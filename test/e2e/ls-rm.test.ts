import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lastStdoutLine, transship } from '../support/cli.js'
import { dockerAt, execIn, removeTestContainersAndVolumes, TEST_LABEL } from '../support/docker.js'
import { backupDirOf, filesUnder, StagingDirs } from '../support/staging.js'
import { testEnv } from '../support/testenv.js'

const env = testEnv()
const hostA = dockerAt(env.TESTENV_HOST_A)
const hostB = dockerAt(env.TESTENV_HOST_B)
const NAME = 'transship-ls-test'
const staging = new StagingDirs('transship-ls')

describe('transship ls and rm', () => {
  beforeAll(async () => {
    const container = await hostA.createContainer({
      name: NAME,
      Image: env.TESTENV_IMAGE_BUSYBOX,
      Cmd: ['sleep', '100000'],
      Labels: TEST_LABEL,
      HostConfig: { Binds: ['transship-ls-data:/data'] },
    })
    await container.start()
  })
  afterAll(async () => {
    await removeTestContainersAndVolumes([hostA, hostB], ['transship-ls-data'])
    await staging.removeAll()
  })

  it('lists a backup with its container, size and date, marks an incomplete one, and removes one', async () => {
    const { dir, url } = await staging.make()
    const backup = await transship([
      'backup',
      NAME,
      '--from',
      env.TESTENV_HOST_A,
      '--via',
      url,
      '--leave-running',
    ])
    expect(backup.code, backup.stderr).toBe(0)
    const backupUrl = lastStdoutLine(backup)
    await mkdir(join(dir, 'half-done'))
    await writeFile(join(dir, 'half-done', 'layer.tar'), 'x')

    const listed = await transship(['ls', url, '--json'])
    expect(listed.code, listed.stderr).toBe(0)
    const backups = JSON.parse(listed.stdout)
    expect(backups).toEqual([
      expect.objectContaining({ url: backupUrl, complete: true, container: NAME }),
      expect.objectContaining({ url: `${url}/half-done`, complete: false, bytes: 1 }),
    ])
    expect(backups[0].bytes).toBeGreaterThan(1024)
    expect(Date.parse(backups[0].createdAt)).toBeGreaterThan(Date.now() - 600_000)

    const removed = await transship(['rm', backupUrl])
    expect(removed.code, removed.stderr).toBe(0)
    const after = JSON.parse((await transship(['ls', url, '--json'])).stdout)
    expect(after.map((b: { url: string }) => b.url)).toEqual([`${url}/half-done`])
  })

  it('a pre-copied backup, a volume base and its deltas: ls counts them all, restore applies them in order, rm removes them', async () => {
    // Written just before the backup: the first round finds it racy, the round after the
    // freeze sends it again, as a delta.
    const line = `written at ${Date.now()}`
    const written = await execIn(hostA.getContainer(NAME), [
      'sh',
      '-c',
      `echo '${line}' > /data/late.txt`,
    ])
    expect(written.exitCode).toBe(0)
    const { dir, url } = await staging.make()
    const backup = await transship([
      'backup',
      NAME,
      '--from',
      env.TESTENV_HOST_A,
      '--via',
      url,
      '--leave-running',
    ])
    expect(backup.code, backup.stderr).toBe(0)
    const backupUrl = lastStdoutLine(backup)
    const files = await filesUnder(dir)
    const manifest = JSON.parse(
      await readFile(join(backupDirOf(backupUrl), 'manifest.json'), 'utf8'),
    )
    const [volume] = manifest.volumes
    expect(volume.deltas.length).toBeGreaterThan(0)
    expect(volume.deltas[0]).toBe('volumes/0.delta-1.tar')
    expect(files.filter((file) => file.includes('/volumes/'))).toHaveLength(
      1 + volume.deltas.length,
    )

    const listed = JSON.parse((await transship(['ls', url, '--json'])).stdout)
    const sizes = await Promise.all(files.map(async (file) => (await stat(join(dir, file))).size))
    expect(listed[0].bytes).toBe(sizes.reduce((sum, size) => sum + size, 0))

    const target = `${NAME}-restored`
    const restored = await transship([
      'restore',
      backupUrl,
      '--to',
      env.TESTENV_HOST_B,
      '--name',
      target,
    ])
    expect(restored.code, restored.stderr).toBe(0)
    await hostB
      .getContainer(target)
      .start()
      .catch(() => {})
    const onB = await execIn(hostB.getContainer(target), ['cat', '/data/late.txt'])
    expect(onB.stdout).toBe(`${line}\n`)

    expect((await transship(['rm', backupUrl])).code).toBe(0)
    expect(await filesUnder(dir)).toEqual([])
  })
})
