import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { openBuffer, readKeyFile, SEALED_MAGIC, sealedSize } from '@transship/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lastStdoutLine, transship } from '../support/cli.js'
import {
  dockerAt,
  execIn,
  removeTestContainers,
  removeTestContainersAndVolumes,
} from '../support/docker.js'
import { expectRedisStateOnB, redisWithState } from '../support/redis.js'
import { objectsUnder, testS3, testS3Environment, uniqueS3Prefix } from '../support/s3.js'
import { backupDirOf, editManifest, type ManifestJson, StagingDirs } from '../support/staging.js'
import { testEnv } from '../support/testenv.js'

/**
 * `--compress` through the command line on each transport: the staged artifacts really are
 * compressed (much smaller than the artifact, for a volume of text), the manifest says
 * with what, and the container comes back on B with its memory and its files. Then the
 * defaults per scheme (none for file://, zstd for scp:// and s3://), and the refusal on the
 * direct route.
 */
const env = testEnv()
const hostA = dockerAt(env.TESTENV_HOST_A)
const hostB = dockerAt(env.TESTENV_HOST_B)
const aws = testS3Environment()
const VOLUME = 'transship-compress-data'
const staging = new StagingDirs('transship-compress')
/** A text file of this size in the volume: it compresses to a small fraction. */
const TEXT_BYTES = 16 * 1024 * 1024

/** A redis on A with {@link redisWithState}'s state and a large, compressible file. */
async function compressibleRedis(name: string): Promise<void> {
  await redisWithState(name, VOLUME)
  const made = await execIn(hostA.getContainer(name), [
    'sh',
    '-c',
    `yes "${name} compresses well" | head -c ${TEXT_BYTES} > /data/text`,
  ])
  expect(made.exitCode).toBe(0)
}

/** Checks that B's copy of container `name` holds the state and the text file. */
async function expectRestoredOnB(name: string): Promise<void> {
  await expectRedisStateOnB(name)
  const size = await execIn(hostB.getContainer(name), ['sh', '-c', 'wc -c < /data/text'])
  expect(size.stdout.trim()).toBe(String(TEXT_BYTES))
}

/** A backup as stored: its files by key under the backup, and its manifest opened. */
interface StoredBackup {
  readonly manifest: ManifestJson
  readonly sealed: boolean
  /** Each stored file's byte size, by its key under the backup. */
  readonly sizes: ReadonlyMap<string, number>
}

/** Opens a stored manifest with the tests' key (or reads it plain) and collects sizes. */
async function storedBackup(
  id: string,
  manifest: Buffer,
  sizes: ReadonlyMap<string, number>,
): Promise<StoredBackup> {
  const sealed = manifest.subarray(0, SEALED_MAGIC.length).equals(SEALED_MAGIC)
  const text = sealed
    ? openBuffer(
        (await readKeyFile(process.env.TRANSSHIP_KEY_FILE ?? '')).secret,
        `${id}/manifest.json`,
        manifest,
      ).toString('utf8')
    : manifest.toString('utf8')
  return { manifest: JSON.parse(text) as ManifestJson, sealed, sizes }
}

/** A backup in a directory (file://, or scp:// to this machine's sshd). */
async function backupInDirectory(dir: string): Promise<StoredBackup> {
  const sizes = new Map<string, number>()
  for (const entry of await readdir(dir, { recursive: true })) {
    const info = await stat(join(dir, entry))
    if (info.isFile()) sizes.set(relative(dir, join(dir, entry)), info.size)
  }
  const id = dir.slice(dir.lastIndexOf('/') + 1)
  return storedBackup(id, await readFile(join(dir, 'manifest.json')), sizes)
}

/** A backup in the test bucket, from its s3:// URL. */
async function backupInBucket(url: string): Promise<StoredBackup> {
  const objects = await objectsUnder(url)
  const sizes = new Map([...objects].map(([name, bytes]) => [name, bytes.length]))
  return storedBackup(
    url.split('/').at(-1) ?? '',
    objects.get('manifest.json') ?? Buffer.alloc(0),
    sizes,
  )
}

/**
 * Checks a backup was compressed with `codec`: the manifest says so, each artifact's stored
 * file is its compressed size (sealed), and the volume's first archive, of text, shrank
 * to less than a tenth.
 */
function expectCompressed(backup: StoredBackup, codec: string): void {
  const { manifest, sealed, sizes } = backup
  expect(manifest.compression).toBe(codec)
  for (const artifact of manifest.artifacts as ManifestJson[]) {
    expect(artifact.compressedSize, artifact.key).toBeTypeOf('number')
    const stored = sealed ? sealedSize(artifact.compressedSize) : artifact.compressedSize
    expect(sizes.get(artifact.key), artifact.key).toBe(stored)
  }
  const volume = (manifest.artifacts as ManifestJson[]).find((a) => a.kind === 'volume')
  expect(volume?.size).toBeGreaterThan(TEXT_BYTES)
  expect(volume?.compressedSize).toBeLessThan(volume?.size / 10)
}

/** Checks a backup was stored as it is: no codec, each file the artifact's (sealed) size. */
function expectUncompressed(backup: StoredBackup): void {
  const { manifest, sealed, sizes } = backup
  expect(manifest.compression).toBeUndefined()
  for (const artifact of manifest.artifacts as ManifestJson[]) {
    expect(artifact.compressedSize).toBeUndefined()
    expect(sizes.get(artifact.key)).toBe(sealed ? sealedSize(artifact.size) : artifact.size)
  }
}

async function backupOnA(name: string, via: string, ...extra: string[]): Promise<string> {
  const result = await transship(
    ['backup', name, '--from', env.TESTENV_HOST_A, '--via', via, ...extra],
    aws,
  )
  expect(result.code, result.stderr).toBe(0)
  expect(result.stderr).not.toMatch(/compressing with gzip, not zstd/)
  return lastStdoutLine(result)
}

async function restoreOnB(url: string, ...extra: string[]): Promise<void> {
  const result = await transship(['restore', url, '--to', env.TESTENV_HOST_B, ...extra], aws)
  expect(result.code, result.stderr).toBe(0)
}

/** Removes the test containers and the volume on both hosts, for the next case. */
function cleanUp(): Promise<void> {
  return removeTestContainersAndVolumes([hostA, hostB], [VOLUME])
}

afterAll(() => staging.removeAll())

describe('--compress through file://', () => {
  beforeAll(async () => {
    await Promise.all([hostA, hostB].map(removeTestContainers))
  })
  afterAll(cleanUp)

  it('stores as it is by default', async () => {
    await compressibleRedis('compress-file-default')
    const { url } = await staging.make()
    const backup = await backupOnA('compress-file-default', url, '--leave-running')
    expectUncompressed(await backupInDirectory(backupDirOf(backup)))
    await cleanUp()
  })

  it('--compress zstd: a sealed backup of compressed artifacts, restored on B', async () => {
    await compressibleRedis('compress-file-zstd')
    const { url } = await staging.make()
    const backup = await backupOnA('compress-file-zstd', url, '--compress', 'zstd')
    expectCompressed(await backupInDirectory(backupDirOf(backup)), 'zstd')
    await restoreOnB(backup)
    await expectRestoredOnB('compress-file-zstd')
    await cleanUp()
  })

  it('--compress gzip --no-encrypt: gzip files in the staging, restored with --insecure', async () => {
    await compressibleRedis('compress-file-gzip')
    const { url } = await staging.make()
    const backup = await backupOnA('compress-file-gzip', url, '--compress', 'gzip', '--no-encrypt')
    const dir = backupDirOf(backup)
    const stored = await backupInDirectory(dir)
    expectCompressed(stored, 'gzip')
    // The manifest itself is plain JSON; every artifact begins as a gzip stream does.
    for (const artifact of stored.manifest.artifacts as ManifestJson[]) {
      const head = (await readFile(join(dir, artifact.key))).subarray(0, 2)
      expect(head.toString('hex'), artifact.key).toBe('1f8b')
    }
    await restoreOnB(backup, '--insecure')
    await expectRestoredOnB('compress-file-gzip')
    await cleanUp()
  })
})

describe('a manifest naming a codec this transship does not know', () => {
  afterAll(cleanUp)

  it('is refused, naming the codec, before anything is created on B', async () => {
    await compressibleRedis('compress-unknown')
    const { url } = await staging.make()
    const backup = await backupOnA('compress-unknown', url, '--compress', 'zstd', '--no-encrypt')
    await editManifest(backupDirOf(backup), (manifest) => {
      manifest.compression = 'lz4'
    })
    const result = await transship(['restore', backup, '--to', env.TESTENV_HOST_B, '--insecure'])
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/is compressed with "lz4", which this transship does not know/)
    await expect(hostB.getContainer('compress-unknown').inspect()).rejects.toThrow()
    await expect(hostB.getVolume(VOLUME).inspect()).rejects.toThrow()
  })
})

describe('--compress through scp://', () => {
  let home: string
  let dir: string
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'transship-compress-home-'))
    await mkdir(join(home, '.ssh'), { mode: 0o700 })
    await copyFile(env.TESTENV_SSH_CONFIG, join(home, '.ssh', 'config'))
    // sshd on B runs on this machine's file system: B's staging path is a local path too.
    dir = await mkdtemp(join(tmpdir(), 'transship-compress-scp-'))
  })
  afterAll(async () => {
    await cleanUp()
    await Promise.all([home, dir].map((path) => rm(path, { recursive: true, force: true })))
  })

  it('migrates A → B with zstd by default, the kept backup compressed', async () => {
    await compressibleRedis('compress-scp')
    const via = `scp://${env.TESTENV_SSH_ALIAS}${dir}`
    const result = await transship(
      [
        'migrate',
        'compress-scp',
        '--from',
        env.TESTENV_HOST_A,
        '--to',
        env.TESTENV_HOST_B,
        '--via',
        via,
        '--keep-backup',
      ],
      { HOME: home, SSH_AUTH_SOCK: '' },
    )
    expect(result.code, result.stderr).toBe(0)
    await expectRestoredOnB('compress-scp')
    const [id] = await readdir(dir)
    expectCompressed(await backupInDirectory(join(dir, id ?? '')), 'zstd')
  })
})

describe('--compress through s3://', () => {
  afterAll(cleanUp)

  it('backs up with zstd by default and restores on B', async () => {
    await compressibleRedis('compress-s3-zstd')
    const via = `s3://${testS3().bucket}/${uniqueS3Prefix('compress')}`
    const backup = await backupOnA('compress-s3-zstd', via)
    expectCompressed(await backupInBucket(backup), 'zstd')
    await restoreOnB(backup)
    await expectRestoredOnB('compress-s3-zstd')
    await cleanUp()
  })

  it('--compress none stores as it is; --compress gzip compresses with gzip', async () => {
    await compressibleRedis('compress-s3-choices')
    const via = `s3://${testS3().bucket}/${uniqueS3Prefix('compress')}`
    const none = await backupOnA(
      'compress-s3-choices',
      via,
      '--compress',
      'none',
      '--leave-running',
    )
    expectUncompressed(await backupInBucket(none))
    const gzip = await backupOnA('compress-s3-choices', via, '--compress', 'gzip')
    expectCompressed(await backupInBucket(gzip), 'gzip')
    await restoreOnB(gzip)
    await expectRestoredOnB('compress-s3-choices')
    await cleanUp()
  })
})

describe('--compress on the direct route', () => {
  afterAll(cleanUp)

  it('is refused, naming the flag, before anything changes', async () => {
    await compressibleRedis('compress-direct')
    const result = await transship([
      'migrate',
      'compress-direct',
      '--from',
      env.TESTENV_HOST_A,
      '--to',
      env.TESTENV_HOST_B,
      '--compress',
      'zstd',
    ])
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/--compress\) needs staging \(--via URL\)/)
    expect((await hostA.getContainer('compress-direct').inspect()).State.Running).toBe(true)
    await expect(hostB.getContainer('compress-direct').inspect()).rejects.toThrow()
  })
})
