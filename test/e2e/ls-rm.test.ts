import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lastStdoutLine, transship } from '../support/cli.js'
import { dockerAt, removeTestContainers, TEST_LABEL } from '../support/docker.js'
import { StagingDirs } from '../support/staging.js'
import { testEnv } from '../support/testenv.js'

const env = testEnv()
const hostA = dockerAt(env.TESTENV_HOST_A)
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
    await removeTestContainers(hostA)
    await hostA
      .getVolume('transship-ls-data')
      .remove()
      .catch(() => {})
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
})
