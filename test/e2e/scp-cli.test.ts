import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lastStdoutLine, transship } from '../support/cli.js'
import {
  dockerAt,
  removeTestContainers,
  removeTestContainersAndVolumes,
} from '../support/docker.js'
import { expectRedisStateOnB, redisWithState } from '../support/redis.js'
import { testEnv } from '../support/testenv.js'

/**
 * The SCP route from the command line, the way a user who can `ssh transship-b` has it:
 * only the alias in ~/.ssh/config (a HOME of the test's own) names host, port, user, key and
 * known_hosts. Then the split form: backup on A into B's staging path over SCP, restore on
 * B from that same directory through the local transport.
 */
const env = testEnv()
const hostA = dockerAt(env.TESTENV_HOST_A)
const hostB = dockerAt(env.TESTENV_HOST_B)
const VOLUME = 'transship-scpcli-data'

describe('transship through SCP', () => {
  let home: string
  let staging: string
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'transship-scp-home-'))
    await mkdir(join(home, '.ssh'), { mode: 0o700 })
    await copyFile(env.TESTENV_SSH_CONFIG, join(home, '.ssh', 'config'))
    // sshd on B runs on this machine's file system: B's staging path is a local path too.
    staging = await mkdtemp(join(tmpdir(), 'transship-scp-staging-'))
    await Promise.all([hostA, hostB].map(removeTestContainers))
  })
  afterAll(async () => {
    await removeTestContainersAndVolumes([hostA, hostB], [VOLUME])
    await Promise.all([home, staging].map((dir) => rm(dir, { recursive: true, force: true })))
  })

  it('migrates A → B with --via scp://alias/path, the alias only in ~/.ssh/config', async () => {
    await redisWithState('scp-migrate', VOLUME)
    const via = `scp://${env.TESTENV_SSH_ALIAS}${staging}`
    const result = await transship(
      [
        'migrate',
        'scp-migrate',
        '--from',
        env.TESTENV_HOST_A,
        '--to',
        env.TESTENV_HOST_B,
        '--via',
        via,
      ],
      { HOME: home, SSH_AUTH_SOCK: '' },
    )
    expect(result.code, result.stderr).toBe(0)
    await expectRedisStateOnB('scp-migrate')
    await removeTestContainersAndVolumes([hostA, hostB], [VOLUME])
  })

  it('backs up on A over SCP into B’s staging path, and restores on B from file://', async () => {
    await redisWithState('scp-split', VOLUME)
    const backup = await transship(
      [
        'backup',
        'scp-split',
        '--from',
        env.TESTENV_HOST_A,
        '--via',
        `scp://${env.TESTENV_SSH_ALIAS}${staging}`,
      ],
      { HOME: home, SSH_AUTH_SOCK: '' },
    )
    expect(backup.code, backup.stderr).toBe(0)
    const url = lastStdoutLine(backup)
    const id = url.slice(url.lastIndexOf('/') + 1)
    expect(url).toBe(`scp://${env.TESTENV_SSH_ALIAS}${staging}/${id}`)

    const restored = await transship([
      'restore',
      `file://${staging}/${id}`,
      '--to',
      env.TESTENV_HOST_B,
    ])
    expect(restored.code, restored.stderr).toBe(0)
    await expectRedisStateOnB('scp-split')
  })
})
