import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  backup,
  connectEngine,
  MANIFEST_KEY,
  type MigrationEvent,
  migrate,
  restore,
  SecretKey,
} from '@transship/core'
import { createLocalTransport } from '@transship/transport-local'
import { lastValueFrom, type Observable, toArray } from 'rxjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeLabelled } from '../../../test/support/cleanup.js'
import { createIdleContainer } from '../../../test/support/containers.js'
import { dockerAt, TEST_LABEL } from '../../../test/support/docker.js'
import { expectEveryKindOfContent, fillVolumes } from '../../../test/support/volumeContent.js'
import { type ListedEntry, listVolume } from '../../../test/support/volumeListing.js'
import { scpTransportFromUrl } from '../src/index.js'
import { afterTest, env, localDirectory, remoteDirectory, remoteTree } from './support.js'

const A = dockerAt(env.TESTENV_HOST_A)
const B = dockerAt(env.TESTENV_HOST_B)
const IMAGE = env.TESTENV_IMAGE_BUSYBOX
const LABELS = { ...TEST_LABEL, 'transship.test.file': 'transport-scp/migration' }
const PREFIX = `scp-mig-${randomBytes(3).toString('hex')}`

afterAll(async () => {
  await Promise.all([removeLabelled(A, LABELS), removeLabelled(B, LABELS)])
})

/** Every event of a pipeline, once it completed; its error if it failed. */
function eventsOf(pipeline: Observable<MigrationEvent>): Promise<MigrationEvent[]> {
  return lastValueFrom(pipeline.pipe(toArray()))
}

/**
 * A home directory whose ~/.ssh/config is the test environment's, as HOME for the test:
 * the transport then knows the alias, the key and known_hosts from there alone.
 */
async function homeWithSshConfig(): Promise<void> {
  const home = await localDirectory()
  const ssh = join(home, '.ssh')
  await mkdir(ssh, { mode: 0o700 })
  await writeFile(join(ssh, 'config'), await readFile(env.TESTENV_SSH_CONFIG))
  const saved = { HOME: process.env.HOME, SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK }
  process.env.HOME = home
  delete process.env.SSH_AUTH_SOCK
  afterTest(async () => {
    process.env.HOME = saved.HOME
    if (saved.SSH_AUTH_SOCK !== undefined) process.env.SSH_AUTH_SOCK = saved.SSH_AUTH_SOCK
  })
}

/** A stopped container on A with a filled volume at /data, and that volume's listing. */
async function sourceContainer(name: string): Promise<ListedEntry[]> {
  const volume = `${name}-data`
  await A.createVolume({ Name: volume, Labels: LABELS })
  await fillVolumes(A, IMAGE, [{ name: volume, largeMiB: 70 }])
  const container = await createIdleContainer(A, {
    name,
    image: IMAGE,
    labels: LABELS,
    binds: [`${volume}:/data`],
  })
  await container.start()
  const listing = await listVolume(A, IMAGE, volume)
  expectEveryKindOfContent(listing, 70)
  return listing
}

async function volumeAtData(name: string): Promise<string> {
  const inspect = await B.getContainer(name).inspect()
  const mount = inspect.Mounts.find((m) => m.Destination === '/data')
  if (!mount?.Name) throw new Error(`${name} on B has no volume at /data`)
  return mount.Name
}

describe('a migration through the SCP transport', () => {
  const engines = {} as {
    source: Awaited<ReturnType<typeof connectEngine>>
    destination: Awaited<ReturnType<typeof connectEngine>>
  }
  beforeAll(async () => {
    engines.source = await connectEngine(env.TESTENV_HOST_A)
    engines.destination = await connectEngine(env.TESTENV_HOST_B)
  })
  afterAll(async () => {
    await engines.source?.close()
    await engines.destination?.close()
  })

  it('moves a container A → B through scp://alias/path, with only ~/.ssh/config to go by', async () => {
    await homeWithSshConfig()
    const name = `${PREFIX}-full`
    const before = await sourceContainer(name)
    const staging = remoteDirectory()
    const transport = scpTransportFromUrl(`scp://${env.TESTENV_SSH_ALIAS}${staging}`)
    afterTest(() => transport.close?.() ?? Promise.resolve())

    const events = await eventsOf(
      migrate({
        source: engines.source,
        destination: engines.destination,
        container: name,
        transport,
        checkpoint: false,
      }),
    )
    expect(events.at(-1)).toMatchObject({ type: 'summary' })
    expect((await B.getContainer(name).inspect()).State.Running).toBe(true)
    expect(await listVolume(B, IMAGE, await volumeAtData(name))).toEqual(before)
    // The staged backup is removed once the target runs; nothing partial stays behind.
    expect(await remoteTree(staging)).toEqual([])
  })

  it('backs up to B over SCP, and restores on B from that directory as file://', async () => {
    await homeWithSshConfig()
    const name = `${PREFIX}-split`
    const before = await sourceContainer(name)
    const staging = remoteDirectory()
    const transport = scpTransportFromUrl(`scp://${env.TESTENV_SSH_ALIAS}${staging}`)
    afterTest(() => transport.close?.() ?? Promise.resolve())

    // One key seals the backup on A and opens it on B.
    const secret = SecretKey.generate()
    const backedUp = await eventsOf(
      backup({ source: engines.source, container: name, transport, secret, checkpoint: false }),
    )
    const summary = backedUp.at(-1)
    expect(summary).toMatchObject({ type: 'summary' })
    const backupUrl = (summary as { backupUrl?: string }).backupUrl ?? ''
    expect(backupUrl.startsWith(`scp://${env.TESTENV_SSH_ALIAS}${staging}/`)).toBe(true)
    const id = backupUrl.slice(backupUrl.lastIndexOf('/') + 1)
    // On B, the staging path is a local directory (B's file system is this machine's).
    const local = createLocalTransport({ base: staging })
    expect((await local.list(id)).map((stat) => stat.key)).toContain(`${id}/${MANIFEST_KEY}`)

    const restored = await eventsOf(
      restore({ destination: engines.destination, transport: local, id, secret }),
    )
    expect(restored.at(-1)).toMatchObject({ type: 'summary' })
    expect((await B.getContainer(name).inspect()).State.Running).toBe(true)
    expect(await listVolume(B, IMAGE, await volumeAtData(name))).toEqual(before)
  })
})
