import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  backupCheckpoint,
  backupLayer,
  checkpointSource,
  connectEngine,
  copyCheckpoint,
  copyLayer,
  createTarget,
  defineStage,
  type EngineClient,
  type EngineOptions,
  inspectSource,
  type MigrationEvent,
  precopyLayer,
  precopyVolumes,
  removeBackup,
  restoreCheckpoint,
  restoreLayer,
  resumeTarget,
  rollbackOnFailure,
  startMigration,
  startTarget,
  stopSource,
  syncVolumes,
  type Transport,
  writeManifest,
} from '@transship/core'
import type Docker from 'dockerode'
import { pack } from 'tar-stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLocalTransport } from '../../packages/transport-local/src/index.js'
import { createS3Transport } from '../../packages/transport-s3/src/index.js'
import { scpTransportFromUrl } from '../../packages/transport-scp/src/index.js'
import { removeLabelled } from '../support/cleanup.js'
import { type CliResult, transship } from '../support/cli.js'
import { dockerAt, execIn, TEST_LABEL } from '../support/docker.js'
import { layerDiff, layerListing, linkGroups, listingDifferences } from '../support/layerChecks.js'
import { runOnce } from '../support/runOnce.js'
import { testS3, uniqueS3Prefix } from '../support/s3.js'
import { testEnv } from '../support/testenv.js'
import { type ListedEntry, listVolume } from '../support/volumeListing.js'

const env = testEnv()
const A = dockerAt(env.TESTENV_HOST_A)
const B = dockerAt(env.TESTENV_HOST_B)
const IMAGE = env.TESTENV_IMAGE_BUSYBOX
const LABELS = { ...TEST_LABEL, 'transship.test.file': 'e2e/precopy' }
const PREFIX = `e2e-pre-${randomBytes(3).toString('hex')}`
const DATA = '/data'
/** Runs until stopped, and exits at once on SIGTERM. */
const IDLE = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done']
const SSH: EngineOptions = {
  ssh: {
    identityFiles: [env.TESTENV_SSH_KEY],
    knownHostsPath: env.TESTENV_SSH_KNOWN_HOSTS,
    agent: false,
  },
}

/**
 * What the volume holds before the copy: every kind of entry, a sparse file (1 MiB of data
 * after a 100 MiB hole), an all-hole file, and what the mutations below change.
 */
const FILL = `set -e
cd ${DATA}
dd if=/dev/urandom of=big bs=1M count=24 2>/dev/null
for i in $(seq 1 300); do echo "small $i" > small-$i; done
mkdir -p nested/deeper/deepest empty-dir dir2file link2dir-target
echo deep > nested/deeper/deepest/file
echo start > append.txt
printf AAAA > same.txt
echo old > old-name
echo gone > gone.txt
echo '#!/bin/sh' > mode.sh
echo owned > owner.txt
echo 0123456789 > trunc.txt
echo inner > dir2file/inner
echo file > file2dir
ln -s link2dir-target link2dir
ln -s /etc/hostname absolute-link
ln -s nowhere dangling-link
echo shared > hard-a
ln hard-a nested/hard-b
mkfifo fifo
echo content > backdated.txt
chown 1000:1001 small-1 && chmod 1777 empty-dir && chmod 2755 nested
echo spaces > 'a name with spaces' && echo accents > 'écrit ünïcode'
dd if=/dev/urandom of=sparse bs=1M count=1 seek=100 2>/dev/null
dd if=/dev/zero of=all-hole bs=1M count=0 seek=64 2>/dev/null
mkdir -p /opt/app/sub /opt/gone /opt/recreated && echo config > /opt/app/config
echo a > /opt/recreated/a && echo g > /opt/gone/g && echo same > /opt/app/same
dd if=/dev/urandom of=/opt/app/big bs=1M count=8 2>/dev/null && rm /bin/vi
`

/** Every kind of change a program makes, while the copy runs, after its first round. */
const MUTATE = `set -e
cd ${DATA}
echo more >> append.txt
printf BBBB > same.txt
mv old-name new-name
rm gone.txt
chmod 4755 mode.sh
chown 1234:5678 owner.txt
dd if=/dev/null of=trunc.txt bs=1 seek=4 2>/dev/null
rm -r dir2file && echo now-a-file > dir2file
rm file2dir && mkdir file2dir && echo inner > file2dir/inner
rm link2dir && mkdir link2dir && echo in > link2dir/in
ln hard-a hard-c
printf tnetnoc > backdated.txt && touch -d '2001-01-01 00:00:00' backdated.txt
rm -r nested/deeper
dd if=/dev/urandom of=sparse bs=4k count=1 seek=10 conv=notrunc 2>/dev/null
dd if=/dev/urandom of=late-sparse bs=1M count=1 seek=50 2>/dev/null
echo new > brand-new
echo more >> /opt/app/config && printf emas > /opt/app/same && chmod 600 /opt/app/config
rm -r /opt/gone && rm -r /opt/recreated && mkdir /opt/recreated && echo b > /opt/recreated/b
mv /opt/app/big /opt/app/big-moved && ln /opt/app/big-moved /opt/app/big-link && rm /usr/bin/wc
`

/** A running container with a volume at /data filled by {@link FILL}. */
async function sourceWithVolume(
  name: string,
  volume: string,
  image = IMAGE,
): Promise<Docker.Container> {
  await A.createVolume({ Name: volume, Labels: LABELS })
  const container = await A.createContainer({
    name,
    Image: image,
    Cmd: IDLE,
    Labels: LABELS,
    HostConfig: { Binds: [`${volume}:${DATA}`] },
  })
  await container.start()
  const filled = await execIn(container, ['sh', '-c', FILL])
  expect(filled.exitCode, filled.stderr).toBe(0)
  return container
}

/** Allocated bytes of a file in a volume, as `stat` sees it inside a container. */
async function allocatedBytes(docker: Docker, volume: string, path: string): Promise<number> {
  const output = await runOnce(docker, {
    image: IMAGE,
    cmd: ['stat', '-c', '%b %B', `/v/${path}`],
    hostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: '/v', ReadOnly: true }] },
  })
  const [blocks, size] = output.trim().split(' ').map(Number)
  return (blocks ?? 0) * (size ?? 0)
}

/** The volume's name at B, from the target's mounts. */
async function volumeOnB(target: string): Promise<string> {
  const inspect = await B.getContainer(target).inspect()
  const mount = inspect.Mounts.find((m) => m.Destination === DATA)
  if (!mount?.Name) throw new Error(`${target} on B mounts no volume at ${DATA}`)
  return mount.Name
}

async function run(events: ReturnType<typeof startMigration>): Promise<MigrationEvent[]> {
  const seen: MigrationEvent[] = []
  await events.forEach((event) => {
    seen.push(event)
  })
  return seen
}

/** `transship migrate NAME` from A to B, straight (no --via), with `extra` flags. */
function migrateAToB(name: string, ...extra: string[]): Promise<CliResult> {
  return transship([
    'migrate',
    name,
    '--from',
    env.TESTENV_HOST_A,
    '--to',
    env.TESTENV_HOST_B,
    ...extra,
  ])
}

function expectSuccess(result: CliResult): void {
  expect(result.stderr, 'transship failed').not.toMatch(/^\[transship\]/m)
  expect(result.code, result.stderr).toBe(0)
}

function withoutRoot(listing: readonly ListedEntry[]): ListedEntry[] {
  return listing.filter((entry) => entry.path !== '.')
}

let engineA: EngineClient
const stagingDirectories: string[] = []

/** A staging directory of this file's own (sshd on B shares this machine's file system). */
async function stagingDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'transship-precopy-'))
  stagingDirectories.push(dir)
  return dir
}

beforeAll(async () => {
  engineA = await connectEngine(env.TESTENV_HOST_A)
})

afterAll(async () => {
  await Promise.all([removeLabelled(A, LABELS), removeLabelled(B, LABELS)])
  await Promise.all(stagingDirectories.map((dir) => rm(dir, { recursive: true, force: true })))
  await engineA?.close()
})

/** How a case reaches B: straight, or through one of the three transports. */
interface Route {
  readonly what: string
  readonly tag: string
  readonly checkpoint: boolean
  readonly urlOfB?: () => string
  readonly optionsOfB?: EngineOptions
  readonly staging?: () => Promise<Transport>
}

const ROUTES: Route[] = [
  { what: 'straight to B by its socket, cold', tag: 'sock-cold', checkpoint: false },
  { what: 'straight to B by its socket, with a checkpoint', tag: 'sock-cp', checkpoint: true },
  {
    what: 'straight to B over ssh://, cold',
    tag: 'ssh-cold',
    checkpoint: false,
    urlOfB: () => env.TESTENV_HOST_B_SSH,
    optionsOfB: SSH,
  },
  ...[false, true].flatMap((checkpoint): Route[] => {
    const how = checkpoint ? 'with a checkpoint' : 'cold'
    const tag = checkpoint ? 'cp' : 'cold'
    return [
      {
        what: `through file://, ${how}`,
        tag: `file-${tag}`,
        checkpoint,
        staging: async () => createLocalTransport({ base: await stagingDirectory() }),
      },
      {
        what: `through scp://, ${how}`,
        tag: `scp-${tag}`,
        checkpoint,
        staging: async () =>
          scpTransportFromUrl(`scp://${env.TESTENV_SSH_ALIAS}${await stagingDirectory()}`, {
            configPath: env.TESTENV_SSH_CONFIG,
            agent: false,
          }),
      },
      {
        what: `through s3://, ${how}`,
        tag: `s3-${tag}`,
        checkpoint,
        staging: async () => {
          const s3 = testS3()
          return createS3Transport({
            endpoint: s3.endpoint,
            region: s3.region,
            credentials: s3.credentials,
            bucket: s3.bucket,
            prefix: uniqueS3Prefix('e2e-precopy'),
            onWarning: () => {},
          })
        },
      },
    ]
  }),
]

/** A stage slot left empty. */
const identity = (events: ReturnType<typeof startMigration>) => events

/**
 * The migration of `name` with {@link MUTATE} run after the pre-copy and before the
 * freeze, as the default route (straight) or through staging composes it.
 */
function mutatedMigration(
  name: string,
  route: Route,
  engineB: EngineClient,
  transport: Transport | undefined,
) {
  const engines = { source: engineA, destination: engineB }
  const mutate = defineStage('mutate', async (state) => {
    const result = await execIn(A.getContainer(name), ['sh', '-c', MUTATE])
    if (result.exitCode !== 0) throw new Error(`mutation failed: ${result.stderr}`)
    return state
  })
  const freeze = route.checkpoint
    ? checkpointSource({ engine: engineA, destination: engineB })
    : stopSource({ engine: engineA })
  const start = route.checkpoint
    ? resumeTarget({ engine: engineB })
    : startTarget({ engine: engineB })
  if (!transport) {
    return startMigration()
      .pipe(
        inspectSource({ engine: engineA, container: name }),
        precopyVolumes(engines),
        createTarget({ engine: engineB }),
        precopyLayer(engines),
        mutate,
        freeze,
        syncVolumes(engines),
        copyLayer(engines),
        route.checkpoint ? copyCheckpoint(engines) : identity,
      )
      .pipe(start, rollbackOnFailure())
  }
  const staged = { ...engines, transport }
  return startMigration()
    .pipe(
      inspectSource({ engine: engineA, container: name }),
      precopyVolumes(staged),
      createTarget({ engine: engineB }),
      mutate,
      freeze,
      syncVolumes(staged),
      backupLayer({ engine: engineA, transport }),
      restoreLayer({ engine: engineB, transport }),
      route.checkpoint ? backupCheckpoint({ engine: engineA, transport }) : identity,
    )
    .pipe(
      writeManifest({ transport }),
      route.checkpoint
        ? restoreCheckpoint({ engine: engineB, transport })
        : startTarget({ engine: engineB }),
      removeBackup({ transport }),
      rollbackOnFailure(),
    )
}

describe.each(ROUTES)('pre-copy of a volume and the layer, $what', (route) => {
  const name = `${PREFIX}-lib-${route.tag}`
  const volume = `${PREFIX}-lib-${route.tag}`
  let events: MigrationEvent[]

  beforeAll(async () => {
    await sourceWithVolume(name, volume)
    // Entries changed within 2 s of their lstat are sent again by the next round (racy).
    await sleep(2500)
    const engineB = await connectEngine(route.urlOfB?.() ?? env.TESTENV_HOST_B, route.optionsOfB)
    const transport = await route.staging?.()
    try {
      events = await run(mutatedMigration(name, route, engineB, transport))
    } finally {
      await transport?.close?.()
      await engineB.close()
    }
  })

  it('leaves the volume at B equal to the frozen source, path for path', async () => {
    const [onA, onB] = await Promise.all([
      listVolume(A, IMAGE, volume),
      listVolume(B, IMAGE, await volumeOnB(name)),
    ])
    expect(withoutRoot(onB)).toEqual(withoutRoot(onA))
    const paths = onB.map((entry) => entry.path)
    expect(paths).toEqual(expect.arrayContaining(['./new-name', './dir2file', './file2dir/inner']))
    expect(paths).not.toContain('./old-name')
    expect(paths).not.toContain('./nested/deeper/deepest/file')
    const byPath = new Map(onB.map((entry) => [entry.path, entry]))
    expect(byPath.get('./mode.sh')?.mode).toBe('4755')
    expect(byPath.get('./owner.txt')).toMatchObject({ uid: 1234, gid: 5678 })
    expect(byPath.get('./backdated.txt')?.mtime).toBe(Date.UTC(2001, 0, 1) / 1000)
    expect(byPath.get('./hard-c')?.linkGroup).toBe(byPath.get('./hard-a')?.linkGroup)
  })

  it('leaves the container layer at B equal to the frozen source: docker diff and content', async () => {
    expect(await layerDiff(B, name)).toEqual(await layerDiff(A, name))
    const [onA, onB] = await Promise.all([layerListing(A, name), layerListing(B, name)])
    expect(listingDifferences(onA, onB)).toEqual([])
    expect(linkGroups(onB)).toEqual(linkGroups(onA))
    expect(onB.members.has('/opt/gone')).toBe(false)
    expect(onB.members.has('/opt/recreated/a')).toBe(false)
    expect(onB.members.has('/usr/bin/wc')).toBe(false)
  })

  it('keeps sparse files sparse', async () => {
    const onB = await volumeOnB(name)
    for (const path of ['sparse', 'late-sparse', 'all-hole']) {
      expect(await allocatedBytes(B, onB, path), path).toBeLessThan(4 * 1024 * 1024)
    }
  })

  it('sent the changes after the freeze, not everything again', () => {
    const stages = events.filter((e) => e.type === 'stage-finished').map((e) => e.stage)
    expect(stages.slice(0, 4)).toEqual(['inspect', 'precopy-volumes', 'create-target', stages[3]])
    expect(stages.indexOf('sync-volumes')).toBeGreaterThan(stages.indexOf('mutate'))
    const state = events.filter((e) => e.type === 'state').at(-1)
    const artifacts = state?.type === 'state' ? state.state.artifacts : []
    if (!route.staging) {
      // Straight, the layer has its pre-copy too: its round after the freeze is a delta.
      const layer = artifacts.filter((a) => a.kind === 'layer').map((a) => a.key)
      expect(layer).toEqual(expect.arrayContaining(['layer.tar']))
      expect(layer.at(-1)).toMatch(/^layer\.delta-\d\.tar$/)
    }
    const full = artifacts.find((a) => a.key === 'volumes/0.tar')
    const deltas = artifacts.filter((a) => a.kind === 'volume' && a.key.includes('.delta-'))
    expect(full?.size).toBeGreaterThan(24 * 1024 * 1024)
    // The mutations came after the live rounds: the round after the freeze carries them.
    expect(deltas.length).toBeGreaterThan(0)
    expect(deltas.at(-1)?.size).toBeGreaterThan(1024 * 1024)
    expect(deltas.at(-1)?.size).toBeLessThan(4 * 1024 * 1024)
  })

  it('froze the source and started the target at B as the route says: from the checkpoint, or afresh when cold', async () => {
    const stages = events.filter((e) => e.type === 'stage-finished').map((e) => e.stage)
    if (route.checkpoint) {
      expect(stages).toContain('checkpoint')
      expect(stages).toContain(route.staging ? 'restore-checkpoint' : 'resume-target')
      expect(stages).not.toContain('start-target')
    } else {
      expect(stages).toEqual(expect.arrayContaining(['stop-source', 'start-target']))
      expect(stages).not.toContain('checkpoint')
    }
    expect((await B.getContainer(name).inspect()).State.Running).toBe(true)
    expect((await A.getContainer(name).inspect()).State.Running).toBe(false)
  })
})

describe('pre-copy by content hash (checksum)', () => {
  it('sends a file whose content changed at the same size and mtime, not one whose ctime alone moved', async () => {
    const name = `${PREFIX}-checksum`
    const volume = `${PREFIX}-checksum`
    const source = await sourceWithVolume(name, volume)
    const stamp = `touch -d '2001-01-01 00:00:00' ${DATA}/same.txt`
    expect((await execIn(source, ['sh', '-c', stamp])).exitCode).toBe(0)
    await sleep(2500)
    const engineB = await connectEngine(env.TESTENV_HOST_B)
    // chmod to the mode it has moves big's ctime only; same.txt differs by its content alone.
    const change = `chmod 644 ${DATA}/big && printf CCCC > ${DATA}/same.txt && ${stamp}`
    const mutate = defineStage('mutate', async (state) => {
      const result = await execIn(source, ['sh', '-c', change])
      if (result.exitCode !== 0) throw new Error(`mutation failed: ${result.stderr}`)
      return state
    })
    const route = { source: engineA, destination: engineB, checksum: true }
    let events: MigrationEvent[]
    try {
      events = await run(
        startMigration().pipe(
          inspectSource({ engine: engineA, container: name }),
          precopyVolumes(route),
          createTarget({ engine: engineB }),
          mutate,
          stopSource({ engine: engineA }),
          syncVolumes(route),
          startTarget({ engine: engineB }),
          rollbackOnFailure(),
        ),
      )
    } finally {
      await engineB.close()
    }
    const [onA, onB] = await Promise.all([
      listVolume(A, IMAGE, volume),
      listVolume(B, IMAGE, await volumeOnB(name)),
    ])
    expect(withoutRoot(onB)).toEqual(withoutRoot(onA))
    expect(onB.find((entry) => entry.path === './same.txt')).toMatchObject({
      size: 4,
      mtime: Date.UTC(2001, 0, 1) / 1000,
    })
    const state = events.filter((e) => e.type === 'state').at(-1)
    const artifacts = state?.type === 'state' ? state.state.artifacts : []
    const deltas = artifacts.filter((a) => a.key.includes('.delta-'))
    // One round after the freeze, with same.txt and not big's 24 MiB.
    expect(deltas).toHaveLength(1)
    expect(deltas[0]?.size).toBeLessThan(64 * 1024)
  })
})

describe('transship migrate without --via: straight from engine to engine', () => {
  it('a cold migration, --checksum, of a container whose volume is written while it moves', async () => {
    const name = `${PREFIX}-cli`
    const volume = `${PREFIX}-cli`
    const source = await sourceWithVolume(name, volume)
    // Writes on while phase 1 runs: it stops with the container.
    const writer = await source.exec({
      Cmd: [
        'sh',
        '-c',
        `i=0; while :; do i=$((i+1)); echo "line $i" >> ${DATA}/writer.log; dd if=/dev/urandom of=${DATA}/churn bs=64k count=1 2>/dev/null; done`,
      ],
    })
    await writer.start({ Detach: true })
    // --checksum: the files that change while they are read are found by their content.
    const result = await migrateAToB(name, '--no-checkpoint', '--checksum', '--json')
    expectSuccess(result)
    const [onA, onB] = await Promise.all([
      listVolume(A, IMAGE, volume),
      listVolume(B, IMAGE, await volumeOnB(name)),
    ])
    expect(withoutRoot(onB)).toEqual(withoutRoot(onA))
    const summary = result.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as MigrationEvent)
      .find((event) => event.type === 'summary')
    expect(summary?.type === 'summary' && summary.downtime?.totalMs).toBeGreaterThan(0)
    expect((await B.getContainer(name).inspect()).State.Running).toBe(true)
  })

  it('with a checkpoint: a process appending numbered lines to a file in a volume goes on at B, none missing, none repeated', async () => {
    const name = `${PREFIX}-counter`
    const volume = `${PREFIX}-counter`
    await A.createVolume({ Name: volume, Labels: LABELS })
    const counter = await A.createContainer({
      name,
      Image: IMAGE,
      // The count lives in the shell's memory: a restart would begin again at 1.
      Cmd: [
        'sh',
        '-c',
        `i=0; while :; do i=$((i+1)); echo $i >> ${DATA}/count; usleep 20000; done`,
      ],
      Labels: LABELS,
      HostConfig: { Binds: [`${volume}:${DATA}`] },
    })
    await counter.start()
    await sleep(1500)
    const result = await migrateAToB(name, '--json')
    expectSuccess(result)
    await sleep(1500)
    const onB = await volumeOnB(name)
    const lines = (
      await runOnce(B, {
        image: IMAGE,
        cmd: ['cat', `/v/count`],
        hostConfig: { Mounts: [{ Type: 'volume', Source: onB, Target: '/v', ReadOnly: true }] },
      })
    )
      .trim()
      .split('\n')
      .map(Number)
    expect(lines.length).toBeGreaterThan(100)
    expect(lines).toEqual(lines.map((_, i) => i + 1))
    const onA = await listVolume(A, IMAGE, volume)
    const countOnA = onA.find((entry) => entry.path === './count')?.size ?? 0
    // B went on counting after the freeze.
    expect(lines.join('\n').length + 1).toBeGreaterThan(countOnA)
    expect((await B.getContainer(name).inspect()).State.Running).toBe(true)
  })

  it('refuses a volume another running container uses, naming it, before anything stops', async () => {
    const name = `${PREFIX}-shared`
    const volume = `${PREFIX}-shared`
    await sourceWithVolume(name, volume)
    const other = await A.createContainer({
      name: `${PREFIX}-other`,
      Image: IMAGE,
      Cmd: IDLE,
      Labels: LABELS,
      HostConfig: { Binds: [`${volume}:/shared`] },
    })
    await other.start()
    const result = await migrateAToB(name, '--no-checkpoint')
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(new RegExp(`${volume}.*${PREFIX}-other`))
    expect((await A.getContainer(name).inspect()).State.Running).toBe(true)
  })

  it('--keep-backup without --via is refused: the direct route stores nothing', async () => {
    const result = await migrateAToB(`${PREFIX}-nothing`, '--keep-backup')
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/--keep-backup.*--via/)
  })
})

/**
 * Builds from the test image one whose `/tree` is a regular file: the engines refuse to
 * start a helper container that mounts a tree there (runc cannot mount on a file).
 */
async function imageWithFileAtTree(tag: string): Promise<void> {
  const context = pack()
  context.entry({ name: 'Dockerfile' }, `FROM ${IMAGE}\nCOPY tree /tree\n`)
  context.entry({ name: 'tree' }, 'a file where the helper mounts its tree\n')
  context.finalize()
  const stream = await A.buildImage(context as unknown as NodeJS.ReadableStream, {
    t: tag,
    labels: LABELS,
    rm: true,
  })
  await new Promise<void>((resolve, reject) => {
    A.modem.followProgress(stream, (error, output: { error?: string }[]) => {
      const failure = error ?? output.find((message) => message.error)?.error
      if (failure) reject(failure instanceof Error ? failure : new Error(String(failure)))
      else resolve()
    })
  })
}

describe('where the engines refuse to start transship-helper', () => {
  it('the volumes and the layer are copied whole after the freeze, through the archive API, and arrive equal', async () => {
    const name = `${PREFIX}-no-helper`
    const volume = `${PREFIX}-no-helper`
    const tag = `transship-test/${PREFIX}-file-at-tree:latest`
    await imageWithFileAtTree(tag)
    try {
      const source = await sourceWithVolume(name, volume, tag)
      const layered = await execIn(source, ['sh', '-c', 'echo written > /in-the-layer'])
      expect(layered.exitCode, layered.stderr).toBe(0)
      const result = await migrateAToB(name, '--no-checkpoint')
      expectSuccess(result)
      // Each pre-copy says why it left its tree to the copy after the freeze.
      expect(result.stderr).toMatch(
        new RegExp(
          `cannot run on ${env.TESTENV_HOST_A}.*volume ${volume} .*copied whole after the freeze`,
        ),
      )
      expect(result.stderr).toMatch(
        /cannot run on .*the layer of container .*copied whole after the freeze/,
      )
      const [onA, onB] = await Promise.all([
        listVolume(A, IMAGE, volume),
        listVolume(B, IMAGE, await volumeOnB(name)),
      ])
      expect(withoutRoot(onB)).toEqual(withoutRoot(onA))
      const target = B.getContainer(name)
      expect((await target.inspect()).State.Running).toBe(true)
      expect((await execIn(target, ['cat', '/in-the-layer'])).stdout).toBe('written\n')
    } finally {
      await Promise.all([removeLabelled(A, LABELS), removeLabelled(B, LABELS)])
      await Promise.all(
        [A, B].map((docker) =>
          docker
            .getImage(tag)
            .remove({ force: true })
            .catch(() => {}),
        ),
      )
    }
  })
})
