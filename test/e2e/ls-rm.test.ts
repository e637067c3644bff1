import { mkdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lastStdoutLine, transship } from '../support/cli.js'
import { dockerAt, execIn, removeTestContainersAndVolumes, TEST_LABEL } from '../support/docker.js'
import { backupDirOf, filesUnder, readStagedManifest, StagingDirs } from '../support/staging.js'
import { testEnv } from '../support/testenv.js'

const env = testEnv()
const hostA = dockerAt(env.TESTENV_HOST_A)
const hostB = dockerAt(env.TESTENV_HOST_B)
const NAME = 'transship-ls-test'
const staging = new StagingDirs('transship-ls')

/** `transship backup` of the test container into `url`, leaving it running: the backup's URL. */
async function backupInto(url: string): Promise<string> {
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
  return lastStdoutLine(backup)
}

describe('transship ls and rm', () => {
  beforeAll(async () => {
    const container = await hostA.createContainer({
      name: NAME,
      Image: env.TESTENV_IMAGE_BUSYBOX,
      // Counts in its memory, a line every 20 ms: every backup has changes after its first round.
      Cmd: ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i >> /data/count; usleep 20000; done'],
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
    const backupUrl = await backupInto(url)
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
    expect(backups[0].encrypted).toBe(true)

    // Without the key: the id, size, date and that it is encrypted, nothing from inside.
    const locked = await transship(['ls', url, '--json'], { TRANSSHIP_KEY_FILE: '' })
    expect(locked.code, locked.stderr).toBe(0)
    const [sealed] = JSON.parse(locked.stdout)
    expect(sealed).toEqual({
      id: backups[0].id,
      url: backupUrl,
      complete: true,
      encrypted: true,
      bytes: backups[0].bytes,
      createdAt: expect.any(String),
    })
    expect(Date.parse(sealed.createdAt)).toBeGreaterThan(Date.now() - 600_000)
    // Not even in its id: a sealed backup's id names no container.
    expect(sealed.id).toMatch(/^backup-/)
    const plain = await transship(['ls', url], { TRANSSHIP_KEY_FILE: '' })
    expect(plain.stdout).toMatch(new RegExp(`\\? \\(encrypted\\) +${backupUrl}`))

    const removed = await transship(['rm', backupUrl])
    expect(removed.code, removed.stderr).toBe(0)
    const after = JSON.parse((await transship(['ls', url, '--json'])).stdout)
    expect(after.map((b: { url: string }) => b.url)).toEqual([`${url}/half-done`])
  })

  it('a pre-copied backup of a container writing to its volume, a base and its deltas: ls counts them all, restore applies them in order, rm removes them', async () => {
    const { dir, url } = await staging.make()
    const backupUrl = await backupInto(url)
    const files = await filesUnder(dir)
    const manifest = await readStagedManifest(backupDirOf(backupUrl))
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
    // From the checkpoint, it counts on from the frozen line: a round missed or applied out
    // of order would leave a line missing or repeated.
    await sleep(500)
    const onB = await execIn(hostB.getContainer(target), ['cat', '/data/count'])
    const lines = onB.stdout.trim().split('\n').map(Number)
    expect(lines.length).toBeGreaterThan(10)
    expect(lines).toEqual(lines.map((_, i) => i + 1))

    expect((await transship(['rm', backupUrl])).code).toBe(0)
    expect(await filesUnder(dir)).toEqual([])
  })
})
