import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, onTestFinished as afterTest, beforeAll, describe, expect, it } from 'vitest'
import { lastStdoutLine, transship } from '../support/cli.js'
import {
  dockerAt,
  removeTestContainers,
  removeTestContainersAndVolumes,
} from '../support/docker.js'
import { expectRedisStateOnB, redisWithState } from '../support/redis.js'
import { objectsUnder, testS3, testS3Environment, uniqueS3Prefix } from '../support/s3.js'
import { testEnv } from '../support/testenv.js'

/**
 * The S3 route from the command line, each side knowing only the bucket URL: a whole
 * migration with `--via s3://…`, the split form, `ls` and `rm`.
 */
const env = testEnv()
const hostA = dockerAt(env.TESTENV_HOST_A)
const hostB = dockerAt(env.TESTENV_HOST_B)
const aws = testS3Environment()
const via = `s3://${testS3().bucket}/${uniqueS3Prefix('cli')}`
const VOLUME = 'transship-s3cli-data'

describe('transship through S3', () => {
  beforeAll(async () => {
    await Promise.all([hostA, hostB].map(removeTestContainers))
  })
  afterAll(async () => {
    await removeTestContainersAndVolumes([hostA, hostB], [VOLUME])
  })

  it('migrates a running container A → B with --via s3://, its memory included', async () => {
    await redisWithState('s3-migrate', VOLUME)
    const result = await transship(
      [
        'migrate',
        's3-migrate',
        '--from',
        env.TESTENV_HOST_A,
        '--to',
        env.TESTENV_HOST_B,
        '--via',
        via,
      ],
      aws,
    )
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/downtime/)
    await expectRedisStateOnB('s3-migrate')
    const listed = JSON.parse((await transship(['ls', via, '--json'], aws)).stdout)
    expect(listed).toEqual([])
    await removeTestContainersAndVolumes([hostA, hostB], [VOLUME])
  })

  it('backs up on A, lists, restores on B from the printed URL, and removes the backup, with only --key-file and the AWS_* environment', async () => {
    await redisWithState('s3-split', VOLUME)
    // A key of its own, given only as --key-file: not the tests' TRANSSHIP_KEY_FILE.
    const keyDir = await mkdtemp(join(tmpdir(), 'transship-s3-key-'))
    afterTest(() => rm(keyDir, { recursive: true, force: true }))
    const key = join(keyDir, 'backup.key')
    expect((await transship(['key', 'generate', key])).code).toBe(0)
    const only = { ...aws, TRANSSHIP_KEY_FILE: '' }
    const backup = await transship(
      ['backup', 's3-split', '--from', env.TESTENV_HOST_A, '--via', via, '--key-file', key],
      only,
    )
    expect(backup.code, backup.stderr).toBe(0)
    const url = lastStdoutLine(backup)
    // A sealed backup's id names no container: the staging shows only the id.
    expect(url.startsWith(`${via}/backup-`)).toBe(true)

    const listed = JSON.parse(
      (await transship(['ls', via, '--json', '--key-file', key], only)).stdout,
    )
    expect(listed).toEqual([
      expect.objectContaining({ url, complete: true, encrypted: true, container: 's3-split' }),
    ])
    // The bucket's objects hold nothing of the container in plaintext.
    const objects = await bucketBytes(via)
    expect(objects.length).toBeGreaterThan(0)
    expect(objects.includes('s3-split')).toBe(false)

    const restored = await transship(
      ['restore', url, '--to', env.TESTENV_HOST_B, '--key-file', key],
      only,
    )
    expect(restored.code, restored.stderr).toBe(0)
    await expectRedisStateOnB('s3-split')

    const removed = await transship(['rm', url], aws)
    expect(removed.code, removed.stderr).toBe(0)
    expect(JSON.parse((await transship(['ls', via, '--json'], aws)).stdout)).toEqual([])
  })
})

/** Every byte of the objects under an s3:// URL's prefix, read with the S3 API. */
async function bucketBytes(url: string): Promise<Buffer> {
  return Buffer.concat([...(await objectsUnder(url)).values()])
}
