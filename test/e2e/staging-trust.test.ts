import { cp, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buffer } from 'node:stream/consumers'
import { pathToFileURL } from 'node:url'
import type Docker from 'dockerode'
import tarStream from 'tar-stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CliResult, lastStdoutLine, transship } from '../support/cli.js'
import { dockerAt, removeTestContainersAndVolumes, TEST_LABEL } from '../support/docker.js'
import { editManifest, filesUnder, replaceArtifact, StagingDirs } from '../support/staging.js'
import { testEnv } from '../support/testenv.js'

/**
 * Trust in staging: whoever can write to the staging (a shared directory, a bucket) but
 * not to host B must not be able to change what a restore creates there, and must not
 * read the container's secrets. Backups are sealed with a key by default; these tests
 * change bytes of a real backup, swap and cut its artifacts, and look for secrets in it.
 */
const env = testEnv()
const A = dockerAt(env.TESTENV_HOST_A)
const B = dockerAt(env.TESTENV_HOST_B)
const NAME = `e2e-trust-${Math.random().toString(16).slice(2, 8)}`
const VOLUME = `${NAME}-data`
const ENV_SECRET = 'env-secret-5c1d9e7f'
/** Only ever in the container's memory: its command holds it base64-encoded. */
const MEMORY_SECRET = 'memory-only-secret-8a2b4c6d'
const staging = new StagingDirs('transship-trust')

let source: Docker.Container

/** `transship backup --leave-running` of the source into a fresh staging directory. */
async function backupOf(...extra: string[]): Promise<{ dir: string; url: string }> {
  const { dir, url } = await staging.make()
  const args = ['backup', NAME, '--from', env.TESTENV_HOST_A, '--via', url, '--leave-running']
  const result = await transship([...args, ...extra])
  expect(result.code, result.stderr).toBe(0)
  return { dir, url: lastStdoutLine(result) }
}

/** Restores a backup on B, as the tests' key (TRANSSHIP_KEY_FILE) allows. */
function restoreOnB(url: string, ...extra: string[]): Promise<CliResult> {
  return transship(['restore', url, '--to', env.TESTENV_HOST_B, ...extra])
}

/** B holds nothing of the restore: no container, no volume. */
async function expectNothingOnB(): Promise<void> {
  expect(await B.listContainers({ all: true, filters: { name: [`^/${NAME}$`] } })).toEqual([])
  expect((await B.listVolumes({ filters: { name: [VOLUME] } })).Volumes ?? []).toEqual([])
}

/** Removes the container `name` from A and from B, wherever it is. */
async function removeOnBoth(name: string): Promise<void> {
  await Promise.all(
    [A, B].map((docker) =>
      docker
        .getContainer(name)
        .remove({ force: true })
        .catch(() => {}),
    ),
  )
}

/** Every byte stored under a staging directory, concatenated. */
async function stagedBytes(dir: string): Promise<Buffer> {
  const files = await filesUnder(dir)
  return Buffer.concat(await Promise.all(files.map((file) => readFile(join(dir, file)))))
}

beforeAll(async () => {
  await removeTestContainersAndVolumes([A, B], [VOLUME])
  await A.createVolume({ Name: VOLUME, Labels: TEST_LABEL })
  const encoded = Buffer.from(MEMORY_SECRET).toString('base64')
  source = await A.createContainer({
    name: NAME,
    Image: env.TESTENV_IMAGE_BUSYBOX,
    Env: [`DB_PASSWORD=${ENV_SECRET}`],
    // The secret stays in the shell's memory; the loop writes into the volume and into the
    // layer, so that the backup holds both.
    Cmd: [
      'sh',
      '-c',
      `m=$(echo ${encoded} | base64 -d); while :; do date >/data/seen; date >/var/seen; sleep 1; done`,
    ],
    Labels: TEST_LABEL,
    HostConfig: { Binds: [`${VOLUME}:/data`] },
  })
  await source.start()
})
afterAll(async () => {
  await removeTestContainersAndVolumes([A, B], [VOLUME])
  await staging.removeAll()
})

describe('secrets in staging', () => {
  it('neither an env value nor a string that lives only in memory can be found in the staged bytes; in a --no-encrypt backup both can', async () => {
    const sealed = await backupOf()
    const plain = await backupOf('--no-encrypt')
    const sealedBytes = await stagedBytes(sealed.dir)
    const plainBytes = await stagedBytes(plain.dir)
    // The check can fail: the same search finds both in the plain backup.
    expect(plainBytes.includes(ENV_SECRET)).toBe(true)
    expect(plainBytes.includes(MEMORY_SECRET)).toBe(true)
    expect(sealedBytes.includes(ENV_SECRET)).toBe(false)
    expect(sealedBytes.includes(MEMORY_SECRET)).toBe(false)
    expect(sealedBytes.includes(NAME)).toBe(false)
  })
})

describe('a sealed backup changed in the staging is refused before the target starts, leaving nothing on B', () => {
  let backup: { dir: string; url: string }
  let other: { dir: string; url: string }
  let id: string
  beforeAll(async () => {
    backup = await backupOf()
    other = await backupOf()
    id = backup.url.slice(backup.url.lastIndexOf('/') + 1)
  })

  /** A copy of the backup, under the same id in a staging directory of its own. */
  async function copyOfBackup(): Promise<{ dir: string; url: string }> {
    const copy = await staging.make()
    await cp(join(backup.dir, id), join(copy.dir, id), { recursive: true })
    return { dir: join(copy.dir, id), url: `${copy.url}/${id}` }
  }

  it('the backup as it was restores (the control)', async () => {
    const copy = await copyOfBackup()
    const result = await restoreOnB(copy.url)
    expect(result.code, result.stderr).toBe(0)
    expect((await B.getContainer(NAME).inspect()).State.Running).toBe(true)
    await removeTestContainersAndVolumes([B], [VOLUME])
  })

  it.each(['manifest.json', 'image.tar', 'volumes/0.tar', 'layer.tar', 'checkpoint.tar'])(
    'one byte of %s changed (the image B already has included): refused, naming the backup and the artifact',
    async (artifact) => {
      const copy = await copyOfBackup()
      const path = join(copy.dir, artifact)
      const bytes = await readFile(path)
      const at = Math.floor(bytes.length / 2)
      bytes[at] = (bytes[at] ?? 0) ^ 0x01
      await writeFile(path, bytes)
      const result = await restoreOnB(copy.url)
      expect(result.code).not.toBe(0)
      expect(result.stderr).toContain(`${id}/${artifact}`)
      expect(result.stderr).toMatch(/changed|another key|another backup/)
      await expectNothingOnB()
    },
  )

  it('an artifact cut short: refused, naming it', async () => {
    const copy = await copyOfBackup()
    const path = join(copy.dir, 'checkpoint.tar')
    await truncate(path, (await stat(path)).size - 100)
    const result = await restoreOnB(copy.url)
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain('checkpoint.tar')
    await expectNothingOnB()
  })

  it('an artifact swapped in from another backup of the same container: refused, naming it', async () => {
    const copy = await copyOfBackup()
    const otherId = other.url.slice(other.url.lastIndexOf('/') + 1)
    await cp(join(other.dir, otherId, 'layer.tar'), join(copy.dir, 'layer.tar'))
    const result = await restoreOnB(copy.url)
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain(`${id}/layer.tar`)
    await expectNothingOnB()
  })

  it('another key: refused before anything is created, naming the manifest', async () => {
    const keyDir = await mkdtemp(join(tmpdir(), 'transship-trust-key-'))
    try {
      const wrongKey = join(keyDir, 'wrong.key')
      expect((await transship(['key', 'generate', wrongKey])).code).toBe(0)
      const result = await restoreOnB(backup.url, '--key-file', wrongKey)
      expect(result.code).not.toBe(0)
      expect(result.stderr).toMatch(
        new RegExp(`backup at .*${id}: its manifest does not open with this key`),
      )
      await expectNothingOnB()
    } finally {
      await rm(keyDir, { recursive: true, force: true })
    }
  })

  it('no key: refused, saying that the backup is encrypted and what to give', async () => {
    const result = await restoreOnB(backup.url, '--key-file', '')
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/is encrypted: give the key it was made with \(--key-file FILE/)
    await expectNothingOnB()
  })
})

describe('choosing not to encrypt, and keys', () => {
  it('a --no-encrypt backup is restored only with --insecure', async () => {
    const plain = await backupOf('--no-encrypt')
    const refused = await restoreOnB(plain.url)
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toMatch(/is not encrypted .*--insecure/)
    await expectNothingOnB()
    const restored = await restoreOnB(plain.url, '--insecure')
    expect(restored.code, restored.stderr).toBe(0)
    await removeTestContainersAndVolumes([B], [VOLUME])
  })

  it('backup without a key fails before the source is touched, saying how to make one', async () => {
    const before = (await source.inspect()).State.StartedAt
    const { url } = await staging.make()
    const result = await transship(['backup', NAME, '--from', env.TESTENV_HOST_A, '--via', url], {
      TRANSSHIP_KEY_FILE: '',
    })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/transship key generate FILE.*--key-file FILE.*--no-encrypt/)
    expect((await source.inspect()).State.StartedAt).toBe(before)
  })

  it('migrate --keep-backup through staging without a key fails before the source is touched', async () => {
    const before = (await source.inspect()).State.StartedAt
    const { dir, url } = await staging.make()
    const result = await transship(
      [
        'migrate',
        NAME,
        '--from',
        env.TESTENV_HOST_A,
        '--to',
        env.TESTENV_HOST_B,
        '--via',
        url,
        '--keep-backup',
      ],
      { TRANSSHIP_KEY_FILE: '' },
    )
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/migrate --keep-backup needs a key/)
    expect((await source.inspect()).State.StartedAt).toBe(before)
    expect(await filesUnder(dir)).toEqual([])
    await expectNothingOnB()
  })

  it('key generate writes a 0600 file and never overwrites one', async () => {
    const keyDir = await mkdtemp(join(tmpdir(), 'transship-trust-key-'))
    try {
      const path = join(keyDir, 'backup.key')
      const made = await transship(['key', 'generate', path])
      expect(made.code, made.stderr).toBe(0)
      expect(made.stdout).toMatch(/wrote a new key to .*key id [0-9a-f]+/)
      expect((await stat(path)).mode & 0o777).toBe(0o600)
      const first = await readFile(path, 'utf8')
      const again = await transship(['key', 'generate', path])
      expect(again.code).not.toBe(0)
      expect(again.stderr).toMatch(/exists already: a key file is never overwritten/)
      expect(await readFile(path, 'utf8')).toBe(first)
    } finally {
      await rm(keyDir, { recursive: true, force: true })
    }
  })
})

describe("the source's checkpoint on A holds the processes' memory", () => {
  it.each([
    { keep: false, left: 0 },
    { keep: true, left: 1 },
  ])(
    'after a migration (--keep-checkpoint: $keep), A holds $left checkpoint of the source',
    async ({ keep, left }) => {
      const name = `${NAME}-ckpt-${keep ? 'kept' : 'removed'}`
      const container = await A.createContainer({
        name,
        Image: env.TESTENV_IMAGE_BUSYBOX,
        Cmd: ['sh', '-c', 'while :; do sleep 1; done'],
        Labels: TEST_LABEL,
      })
      await container.start()
      try {
        const args = ['migrate', name, '--from', env.TESTENV_HOST_A, '--to', env.TESTENV_HOST_B]
        const result = await transship([...args, ...(keep ? ['--keep-checkpoint'] : [])])
        expect(result.code, result.stderr).toBe(0)
        const listed = await container.listCheckpoint()
        expect(Array.isArray(listed) ? listed.length : 0).toBe(left)
      } finally {
        await removeOnBoth(name)
      }
    },
  )
})

describe('a forged manifest grants nothing on B by itself', () => {
  let plain: { dir: string; url: string }
  let id: string
  const sentinel = `/tmp/transship-forged-${Math.random().toString(16).slice(2, 10)}`

  beforeAll(async () => {
    plain = await backupOf('--no-encrypt')
    id = plain.url.slice(plain.url.lastIndexOf('/') + 1)
    // What someone who can write to the staging, but not to B, would write.
    await editManifest(join(plain.dir, id), (manifest) => {
      manifest.skippedMounts.push({ type: 'bind', source: '/', destination: '/h', readOnly: false })
      manifest.source.hostConfig.PidMode = 'host'
      manifest.source.hostConfig.CapAdd = ['SYS_ADMIN']
      manifest.source.config.Cmd = ['sh', '-c', `touch /h${sentinel}; sleep 3600`]
      manifest.volumes[0].driverOptions = { type: 'none', o: 'bind', device: '/etc/cron.d' }
    })
  })
  afterAll(() => rm(sentinel, { force: true }))

  /** B has no container or volume of it, and no file appeared on B's host. */
  async function expectNothingDone(): Promise<void> {
    await expectNothingOnB()
    await expect(stat(sentinel)).rejects.toMatchObject({ code: 'ENOENT' })
  }

  it('without --insecure: refused, as not encrypted', async () => {
    const result = await restoreOnB(plain.url)
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/is not encrypted/)
    await expectNothingDone()
  })

  it('with --insecure, without --allow-host-access: refused, naming every grant; --dry-run lists them and exits 1', async () => {
    const result = await restoreOnB(plain.url, '--insecure')
    expect(result.code).not.toBe(0)
    for (const grant of [
      'bind mount of host path / at /h (read-write)',
      "the host's PID namespace (PidMode host)",
      'added capability SYS_ADMIN',
      'on host device or directory /etc/cron.d',
    ]) {
      expect(result.stderr).toContain(grant)
    }
    expect(result.stderr).toContain('--allow-host-access')
    await expectNothingDone()

    const planned = await restoreOnB(plain.url, '--insecure', '--dry-run')
    expect(planned.code).toBe(1)
    expect(planned.stdout).toContain('    - bind mount of host path / at /h (read-write)')
    expect(planned.stdout).toMatch(/the restore would be REFUSED: .*--allow-host-access/)
    await expectNothingDone()
  })

  it('a name that is an engine API path: refused before any call uses it, naming the field', async () => {
    const copy = await staging.make()
    await cp(join(plain.dir, id), join(copy.dir, id), { recursive: true })
    await editManifest(join(copy.dir, id), (manifest) => {
      manifest.source.networks[0].name = '../volumes/prune?'
    })
    const result = await restoreOnB(`${copy.url}/${id}`, '--insecure', '--allow-host-access')
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/breaks the schema:[\s\S]*source\.networks\[0\]\.name/)
    await expectNothingDone()
  })
})

describe('an image archive from staging loads only the image the manifest names', () => {
  // An image B lacks, so that a restore loads it: the source's image with a file added.
  const name = `${NAME}-image`
  const repo = `transship-test/trust-${Math.random().toString(16).slice(2, 8)}`
  const victim = env.TESTENV_IMAGE_BUSYBOX
  beforeAll(async () => {
    const base = await A.createContainer({
      name,
      Image: env.TESTENV_IMAGE_BUSYBOX,
      Cmd: ['sh', '-c', 'echo new > /new; while :; do sleep 1; done'],
      Labels: TEST_LABEL,
    })
    await base.start()
    await base.commit({ repo, tag: 'latest' })
    await base.remove({ force: true })
    const fromNew = await A.createContainer({
      name,
      Image: `${repo}:latest`,
      Cmd: ['sh', '-c', 'while :; do sleep 1; done'],
      Labels: TEST_LABEL,
    })
    await fromNew.start()
  })
  afterAll(async () => {
    await removeOnBoth(name)
    await Promise.all(
      [A, B].map((docker) =>
        docker
          .getImage(`${repo}:latest`)
          .remove({ force: true })
          .catch(() => {}),
      ),
    )
  })

  /** A cold backup of the container, `--leave-running`: its directory and URL. */
  async function imageBackup(...extra: string[]): Promise<{ dir: string; url: string }> {
    const { dir } = await staging.make()
    const args = ['backup', name, '--from', env.TESTENV_HOST_A, '--via', pathToFileURL(dir).href]
    const made = await transship([...args, '--no-checkpoint', '--leave-running', ...extra])
    expect(made.code, made.stderr).toBe(0)
    const url = lastStdoutLine(made)
    return { dir: join(dir, url.slice(url.lastIndexOf('/') + 1)), url }
  }

  /** B holds neither the container nor the image. */
  async function expectImageNotOnB(): Promise<void> {
    expect(await B.listContainers({ all: true, filters: { name: [`^/${name}$`] } })).toEqual([])
    await expect(B.getImage(`${repo}:latest`).inspect()).rejects.toMatchObject({ statusCode: 404 })
  }

  it('a changed byte in the image a restore loads: refused, nothing loaded', async () => {
    const backup = await imageBackup()
    const path = join(backup.dir, 'image.tar')
    const bytes = await readFile(path)
    bytes[0] = (bytes[0] ?? 0) ^ 0x01
    await writeFile(path, bytes)
    // The load used to wait for a body that had failed already, past the test's timeout.
    const result = await restoreOnB(backup.url)
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain('/image.tar')
    await expectImageNotOnB()
  })

  it('an archive that would tag its image as an image B holds is refused; the tag stays where it was', async () => {
    const before = (await B.getImage(victim).inspect()).Id
    const backup = await imageBackup('--no-encrypt')
    const archive = await readFile(join(backup.dir, 'image.tar'))
    await replaceArtifact(backup.dir, 'image.tar', await retagged(archive, [victim]))
    const result = await restoreOnB(backup.url, '--insecure')
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/image\.tar is refused: it tags the image/)
    expect((await B.getImage(victim).inspect()).Id).toBe(before)
    await expectImageNotOnB()
  })
})

/** A `docker save` archive with `tags` written into its manifest.json's RepoTags. */
async function retagged(archive: Buffer, tags: string[]): Promise<Buffer> {
  const extract = tarStream.extract()
  const pack = tarStream.pack()
  const failed = new Promise<never>((_, reject) => extract.on('error', reject))
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = []
    stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer))
    stream.on('end', () => {
      let data = Buffer.concat(chunks)
      if (header.name === 'manifest.json') {
        const images = JSON.parse(data.toString('utf8')) as { RepoTags: string[] | null }[]
        for (const image of images) image.RepoTags = tags
        data = Buffer.from(JSON.stringify(images))
      }
      pack.entry({ ...header, size: data.length }, data, next)
    })
  })
  extract.on('finish', () => pack.finalize())
  extract.end(archive)
  return Promise.race([buffer(pack), failed])
}
