import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  backupVolumes,
  checkDestination,
  connectEngine,
  createTarget,
  defineStage,
  diagnoseEngine,
  type EngineCheck,
  type EngineClient,
  inspectSource,
  type MigrationEvent,
  type MigrationState,
  parseManifest,
  readManifest,
  restoreVolumes,
  rollbackOnFailure,
  startMigration,
  TransshipError,
  writeManifest,
} from '@transship/core'
import type Docker from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backupCheckpoint } from '../../packages/core/src/stages/checkpoint/backupCheckpoint.js'
import { checkpointSource } from '../../packages/core/src/stages/checkpoint/checkpointSource.js'
import { restoreCheckpoint } from '../../packages/core/src/stages/checkpoint/restoreCheckpoint.js'
import { resumeFromCheckpoint } from '../../packages/core/src/stages/checkpoint/resumeSource.js'
import {
  addCheckpointMarker,
  startFromCheckpoint,
} from '../../packages/core/src/stages/checkpoint/startFromCheckpoint.js'
import { backupLayer } from '../../packages/core/src/stages/layer/backupLayer.js'
import { restoreLayer } from '../../packages/core/src/stages/layer/restoreLayer.js'
import { createLocalTransport } from '../../packages/transport-local/src/index.js'
import { removeLabelled } from '../support/cleanup.js'
import { dockerAt, execIn, TEST_LABEL } from '../support/docker.js'
import { runOnce } from '../support/runOnce.js'
import { filesUnder, StagingDirs } from '../support/staging.js'
import { testEnv } from '../support/testenv.js'

const env = testEnv()
const A = dockerAt(env.TESTENV_HOST_A)
const B = dockerAt(env.TESTENV_HOST_B)
const BUSYBOX = env.TESTENV_IMAGE_BUSYBOX
const REDIS = env.TESTENV_IMAGE_REDIS
/** On everything this file creates (with TEST_LABEL): cleanup by label. */
const LABELS = { ...TEST_LABEL, 'transship.test.file': 'e2e/checkpoint' }
const PREFIX = `e2e-cp-${randomBytes(3).toString('hex')}`
const ON_FAILURE = { Name: 'on-failure', MaximumRetryCount: 3 }
const NO_RESTART = { Name: 'no', MaximumRetryCount: 0 }
/** Containers start and count slower on a busy machine. */
const POLL = { timeout: 15_000, interval: 200 }
/** Where runc has CRIU read its configuration, for dumps and restores alike. */
const CRIU_CONF_DIR = '/etc/criu'
const RUNC_CRIU_CONF = `${CRIU_CONF_DIR}/runc.conf`

const staging = new StagingDirs(PREFIX)
let engineA: EngineClient
let engineB: EngineClient
let runs = 0

beforeAll(async () => {
  engineA = await connectEngine(env.TESTENV_HOST_A)
  engineB = await connectEngine(env.TESTENV_HOST_B)
})

afterAll(async () => {
  await Promise.all([removeLabelled(A, LABELS), removeLabelled(B, LABELS)])
  await Promise.all([engineA?.close(), engineB?.close()])
  await staging.removeAll()
})

type Operator = (source: ReturnType<typeof startMigration>) => ReturnType<typeof startMigration>

interface Run {
  readonly id: string
  readonly dir: string
  readonly events: MigrationEvent[]
  state?: MigrationState
  error?: unknown
}

/** How {@link migrateRunning} composes its pipeline. */
interface MigrateChoices {
  /** Carry the container layer too (backupLayer, restoreLayer). */
  readonly layer?: boolean
  /** A stage run just before restoreCheckpoint. */
  readonly sabotage?: Operator
}

/**
 * Migrates a running container from A to B with a checkpoint, through a pipeline composed
 * from the core's stages.
 */
async function migrateRunning(container: string, choices: MigrateChoices = {}): Promise<Run> {
  const { dir } = await staging.make()
  const transport = createLocalTransport({ base: dir })
  const id = `${PREFIX}-${++runs}`
  const result: Run = { id, dir, events: [] }
  const { layer = false, sabotage } = choices
  const stages: Operator[] = [
    inspectSource({ engine: engineA, container }),
    // A migration: one operator holds both engines, so the source's grants travel.
    checkDestination({ engine: engineB, hostAccess: 'warn' }),
    checkpointSource({ engine: engineA, destination: engineB }),
    backupCheckpoint({ engine: engineA, transport }),
    backupVolumes({ engine: engineA, transport }),
    ...(layer ? [backupLayer({ engine: engineA, transport })] : []),
    writeManifest({ transport }),
    // Staged in plaintext, as these stages are composed here: read only as `insecure`
    // (sealing and its refusals are e2e/staging-trust's).
    readManifest({ transport, id, insecure: true }),
    restoreVolumes({ engine: engineB, transport }),
    createTarget({ engine: engineB }),
    ...(layer ? [restoreLayer({ engine: engineB, transport })] : []),
    ...(sabotage ? [sabotage] : []),
    restoreCheckpoint({ engine: engineB, transport }),
    rollbackOnFailure(),
  ]
  const pipeline = stages.reduce((source, stage) => stage(source), startMigration({ id }))
  try {
    await pipeline.forEach((event) => {
      result.events.push(event)
      if (event.type === 'state') result.state = event.state
    })
  } catch (error) {
    result.error = error
  }
  return result
}

function expectSuccess(run: Run): MigrationState {
  expect(run.error, String(run.error)).toBeUndefined()
  expect(run.state).toBeDefined()
  return run.state as MigrationState
}

function expectFailure(run: Run, code: string): TransshipError {
  expect(run.error, 'the migration should have failed').toBeInstanceOf(TransshipError)
  const error = run.error as TransshipError
  expect(error.code, error.message).toBe(code)
  return error
}

/** Creates and starts a labelled container on A. */
async function runOnA(options: {
  name: string
  image: string
  cmd?: string[]
  tty?: boolean
  volumes?: Record<string, string>
  hostConfig?: Docker.HostConfig
}): Promise<Docker.Container> {
  for (const volume of Object.keys(options.volumes ?? {})) {
    await A.createVolume({ Name: volume, Labels: LABELS })
  }
  const container = await A.createContainer({
    name: options.name,
    Image: options.image,
    ...(options.cmd ? { Cmd: options.cmd } : {}),
    Tty: options.tty ?? false,
    Labels: LABELS,
    HostConfig: {
      RestartPolicy: ON_FAILURE,
      Binds: Object.entries(options.volumes ?? {}).map(([name, path]) => `${name}:${path}`),
      ...options.hostConfig,
    },
  })
  await container.start()
  return container
}

/** The numbers a counter printed, one per line, in its logs. */
async function loggedNumbers(container: Docker.Container, tty = false): Promise<number[]> {
  const raw = (await container.logs({ stdout: true, stderr: false, follow: false })) as Buffer
  const text = tty ? raw.toString('utf8') : demultiplexStdout(raw)
  return numbersIn(text)
}

function numbersIn(text: string): number[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => /^\d+$/.test(line))
    .map(Number)
}

/** Stdout of Docker's multiplexed log stream (8-byte frame headers). */
function demultiplexStdout(buffer: Buffer): string {
  const out: Buffer[] = []
  for (let offset = 0; offset + 8 <= buffer.length; ) {
    const size = buffer.readUInt32BE(offset + 4)
    if (buffer[offset] === 1) out.push(buffer.subarray(offset + 8, offset + 8 + size))
    offset += 8 + size
  }
  return Buffer.concat(out).toString('utf8')
}

function expectConsecutive(numbers: readonly number[], from = 1): void {
  expect(numbers.length).toBeGreaterThan(0)
  expect(numbers).toEqual(numbers.map((_, index) => from + index))
}

async function exec(container: Docker.Container, cmd: string[]): Promise<string> {
  const result = await execIn(container, cmd)
  expect(result.exitCode, `${cmd.join(' ')}: ${result.stderr}`).toBe(0)
  return result.stdout.trim()
}

async function containerOn(
  docker: Docker,
  name: string,
): Promise<Docker.ContainerInspectInfo | undefined> {
  return docker
    .getContainer(name)
    .inspect()
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode === 404) return undefined
      throw error
    })
}

/**
 * A counter whose count lives only in the shell's memory, also appended to a volume and to
 * a file of its layer.
 */
const COUNTER = [
  'sh',
  '-c',
  'trap "exit 0" TERM; i=0; while :; do i=$((i+1)); echo $i >> /data/counts; echo $i >> /var/counts; echo $i; usleep 100000; done',
]

/** A counter whose count lives only in the shell's memory. */
const COUNTER_ONLY = ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i; usleep 100000; done']

/** Runs until removed. */
const IDLE = ['sh', '-c', 'while :; do usleep 100000; done']

describe('memory-only state continues on B', () => {
  it('a counter in a shell: its count goes on from where it was frozen, and its volume and layer writes match', async () => {
    const name = `${PREFIX}-counter`
    const source = await runOnA({
      name,
      image: BUSYBOX,
      cmd: COUNTER,
      volumes: { [`${name}-data`]: '/data' },
    })
    await expect.poll(async () => (await loggedNumbers(source)).length, POLL).toBeGreaterThan(5)

    const run = await migrateRunning(name, { layer: true })
    const state = expectSuccess(run)

    // The source stopped at the freeze, and stays so: restart policy no.
    const frozen = await loggedNumbers(source)
    expectConsecutive(frozen)
    const sourceNow = await source.inspect()
    expect(sourceNow.State.Running).toBe(false)
    expect(sourceNow.HostConfig.RestartPolicy?.Name).toBe('no')

    // B's log holds only what the target printed: the count goes on from A's last number.
    const target = B.getContainer(name)
    const last = frozen.at(-1) as number
    await expect.poll(async () => (await loggedNumbers(target)).length, POLL).toBeGreaterThan(3)
    expectConsecutive(await loggedNumbers(target), last + 1)
    // Volume and layer were copied after the freeze: every number once, none missing.
    expectConsecutive(numbersIn(await exec(target, ['cat', '/data/counts'])))
    expectConsecutive(numbersIn(await exec(target, ['cat', '/var/counts'])))
    const inspect = await target.inspect()
    expect(inspect.State.Running).toBe(true)
    expect(inspect.HostConfig.RestartPolicy).toMatchObject(ON_FAILURE)

    // The manifest lists the checkpoint; the state the downtime, its parts adding up.
    const manifest = parseManifest(
      await readFile(join(run.dir, run.id, 'manifest.json'), 'utf8'),
      run.dir,
    )
    expect(manifest.checkpoint).toMatchObject({
      artifact: 'checkpoint.tar',
      tcpEstablished: false,
      engine: { apiVersion: '1.41' },
    })
    expect(manifest.artifacts.map((a) => a.kind).sort()).toEqual(['checkpoint', 'layer', 'volume'])
    const { downtime } = state
    expect(downtime).toBeDefined()
    if (downtime) {
      expect(downtime.checkpointMs + downtime.transferMs + downtime.restoreMs).toBe(
        downtime.totalMs,
      )
      expect(downtime.checkpointMs).toBeGreaterThan(0)
      expect(downtime.restoreMs).toBeGreaterThan(0)
    }
    // The stages ran in order, and reported the checkpoint's bytes.
    const stages = run.events.flatMap((e) => (e.type === 'stage-finished' ? [e.stage] : []))
    expect(stages).toEqual([
      'inspect',
      'check-destination',
      'checkpoint',
      'backup-checkpoint',
      'backup-volumes',
      'backup-layer',
      'write-manifest',
      'read-manifest',
      'restore-volumes',
      'create-target',
      'restore-layer',
      'restore-checkpoint',
    ])
    expect(run.events.some((e) => e.type === 'progress' && e.artifact === 'checkpoint')).toBe(true)
  })

  it('redis keeps keys it never wrote to disk, and its TCP listener answers on B', async () => {
    const name = `${PREFIX}-redis`
    const source = await runOnA({ name, image: REDIS })
    await expect
      .poll(() => execIn(source, ['redis-cli', 'ping']).then((r) => r.stdout.trim()), POLL)
      .toBe('PONG')
    // No RDB and no AOF: the keys exist only in the server's memory.
    expect(await exec(source, ['redis-cli', 'config', 'get', 'save'])).toBe('save')
    expect(await exec(source, ['redis-cli', 'config', 'get', 'appendonly'])).toBe('appendonly\nno')
    const pairs = Array.from({ length: 500 }, (_, i) => [`key:${i}`, `value ${i} ${PREFIX}`]).flat()
    expect(await exec(source, ['redis-cli', 'mset', ...pairs])).toBe('OK')

    expectSuccess(await migrateRunning(name))

    const target = B.getContainer(name)
    expect(await exec(target, ['redis-cli', 'dbsize'])).toBe('500')
    expect(await exec(target, ['redis-cli', 'get', 'key:321'])).toBe(`value 321 ${PREFIX}`)
    // From another container on B, over B's bridge: the listener answers from outside too.
    const address = (await target.inspect()).NetworkSettings.Networks.bridge?.IPAddress as string
    const client = await B.createContainer({
      Image: REDIS,
      Cmd: ['redis-cli', '-h', address, 'get', 'key:7'],
      Labels: LABELS,
    })
    await client.start()
    await client.wait()
    expect(demultiplexStdout((await client.logs({ stdout: true })) as Buffer).trim()).toBe(
      `value 7 ${PREFIX}`,
    )
  })

  it('a TTY container is not refused: its count goes on too', async () => {
    const name = `${PREFIX}-tty`
    const source = await runOnA({
      name,
      image: BUSYBOX,
      tty: true,
      cmd: ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i; usleep 100000; done'],
    })
    await expect
      .poll(async () => (await loggedNumbers(source, true)).length, POLL)
      .toBeGreaterThan(3)
    expectSuccess(await migrateRunning(name))
    const last = (await loggedNumbers(source, true)).at(-1) as number
    const target = B.getContainer(name)
    await expect
      .poll(async () => (await loggedNumbers(target, true)).length, POLL)
      .toBeGreaterThan(3)
    expectConsecutive(await loggedNumbers(target, true), last + 1)
  })
})

describe('open files', () => {
  it('a process holding files of its image, its volume and its layer open continues on B', async () => {
    const name = `${PREFIX}-open`
    const source = await runOnA({
      name,
      image: BUSYBOX,
      volumes: { [`${name}-data`]: '/data' },
      cmd: [
        'sh',
        '-c',
        'mkdir -p /var/work; exec 3</etc/passwd 4>>/data/held 5>>/var/work/held; i=0; while :; do i=$((i+1)); echo $i >&4; echo $i >&5; usleep 100000; done',
      ],
    })
    await expect.poll(() => exec(source, ['wc', '-l', '/data/held']), POLL).not.toMatch(/^0 /)
    expectSuccess(await migrateRunning(name, { layer: true }))
    const target = B.getContainer(name)
    expect(await exec(target, ['readlink', '/proc/1/fd/3'])).toBe('/etc/passwd')
    expect(await exec(target, ['readlink', '/proc/1/fd/4'])).toBe('/data/held')
    expect(await exec(target, ['readlink', '/proc/1/fd/5'])).toBe('/var/work/held')
    const before = numbersIn(await exec(target, ['cat', '/data/held'])).length
    await expect
      .poll(async () => numbersIn(await exec(target, ['cat', '/data/held'])).length, POLL)
      .toBeGreaterThan(before)
    expectConsecutive(numbersIn(await exec(target, ['cat', '/data/held'])))
    expectConsecutive(numbersIn(await exec(target, ['cat', '/var/work/held'])))
  })
})

/** Runs a pipeline to its end, keeping the events, the last state and the failure. */
async function runPipeline(id: string, dir: string, stages: readonly Operator[]): Promise<Run> {
  const result: Run = { id, dir, events: [] }
  try {
    await stages
      .reduce((source, stage) => stage(source), startMigration({ id }))
      .forEach((event) => {
        result.events.push(event)
        if (event.type === 'state') result.state = event.state
      })
  } catch (error) {
    result.error = error
  }
  return result
}

describe('backup, then restore elsewhere (the split form)', () => {
  it('the source resumes from its checkpoint after the backup; a later restore on B continues from the freeze', async () => {
    const name = `${PREFIX}-split`
    const source = await runOnA({
      name,
      image: BUSYBOX,
      cmd: COUNTER,
      volumes: { [`${name}-data`]: '/data' },
    })
    await expect.poll(async () => (await loggedNumbers(source)).length, POLL).toBeGreaterThan(5)
    const { dir } = await staging.make()
    const transport = createLocalTransport({ base: dir })
    const id = `${PREFIX}-split`
    const backup = await runPipeline(id, dir, [
      inspectSource({ engine: engineA, container: name }),
      checkpointSource({ engine: engineA }),
      backupCheckpoint({ engine: engineA, transport }),
      backupVolumes({ engine: engineA, transport }),
      writeManifest({ transport }),
      resumeFromCheckpoint({ engine: engineA }),
      rollbackOnFailure(),
    ])
    expectSuccess(backup)
    // A runs on from where it was frozen: its log has no gap and no repeat.
    const inspect = await source.inspect()
    expect(inspect.State.Running).toBe(true)
    expect(inspect.HostConfig.RestartPolicy).toMatchObject(ON_FAILURE)
    const before = (await loggedNumbers(source)).length
    await expect
      .poll(async () => (await loggedNumbers(source)).length, POLL)
      .toBeGreaterThan(before)
    expectConsecutive(await loggedNumbers(source))

    const restore = await runPipeline(id, dir, [
      readManifest({ transport, id, insecure: true }),
      restoreVolumes({ engine: engineB, transport }),
      createTarget({ engine: engineB }),
      restoreCheckpoint({ engine: engineB, transport }),
      rollbackOnFailure(),
    ])
    const state = expectSuccess(restore)
    expect(state.downtime?.totalMs).toBeGreaterThan(0)
    const target = B.getContainer(name)
    await expect.poll(async () => (await loggedNumbers(target)).length, POLL).toBeGreaterThan(3)
    const first = (await loggedNumbers(target))[0] as number
    expectConsecutive(await loggedNumbers(target), first)
    // The volume was read while the counter was frozen: on B it runs on without a gap or a
    // repeat where the restored counter took over.
    expectConsecutive(numbersIn(await exec(target, ['cat', '/data/counts'])))
  })
})

/** Containers of the failure cases: nothing may be left on B, and the source must run. */
async function expectSourceUntouched(
  name: string,
  run: Run,
  restartPolicy: Docker.HostRestartPolicy = ON_FAILURE,
): Promise<void> {
  const source = await A.getContainer(name).inspect()
  expect(source.State.Running).toBe(true)
  expect(source.HostConfig.RestartPolicy).toMatchObject(restartPolicy)
  expect(await containerOn(B, name)).toBeUndefined()
  expect(await filesUnder(run.dir)).toEqual([])
}

/** Runs a shell in a container: an established loopback TCP connection to a redis server. */
const SUBSCRIBER = [
  'sh',
  '-c',
  'redis-server --save "" --appendonly no & until redis-cli ping; do usleep 100000; done; exec redis-cli subscribe news',
]

async function startSubscriber(name: string): Promise<Docker.Container> {
  const container = await runOnA({ name, image: REDIS, cmd: SUBSCRIBER })
  await expect
    .poll(
      async () => (await exec(container, ['redis-cli', 'pubsub', 'numsub', 'news'])).split('\n')[1],
      POLL,
    )
    .toBe('1')
  return container
}

describe('a failing checkpoint: a clear error, and the source keeps running', () => {
  it('an established TCP connection: the error explains it, and what works', async () => {
    const name = `${PREFIX}-established`
    await startSubscriber(name)
    const run = await migrateRunning(name)
    const error = expectFailure(run, 'CHECKPOINT_TCP_ESTABLISHED')
    expect(error.message).toContain('established TCP connection')
    expect(error.message).toContain('tcp-established')
    expect(error.message).toContain(RUNC_CRIU_CONF)
    expect(error.message).toContain('--no-checkpoint')
    expect(error.message).toContain('It keeps running')
    await expectSourceUntouched(name, run)
  })

  it('a device held open: the error names it', async () => {
    const name = `${PREFIX}-device`
    await runOnA({
      name,
      image: BUSYBOX,
      cmd: ['sh', '-c', `exec 3<>/dev/fuse; ${IDLE[2]}`],
      hostConfig: {
        Devices: [
          { PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' },
        ],
      },
    })
    const run = await migrateRunning(name)
    const error = expectFailure(run, 'CHECKPOINT_FAILED')
    expect(error.message).toMatch(/character device \(10:229\) open as file descriptor 3/)
    expect(error.message).toContain('--no-checkpoint')
    await expectSourceUntouched(name, run)
  })

  it('a container started with --rm is refused before anything changes', async () => {
    const name = `${PREFIX}-autoremove`
    await runOnA({
      name,
      image: BUSYBOX,
      cmd: IDLE,
      hostConfig: { AutoRemove: true, RestartPolicy: NO_RESTART },
    })
    const run = await migrateRunning(name)
    const error = expectFailure(run, 'CHECKPOINT_UNSUPPORTED')
    expect(error.message).toContain('--rm')
    expect(error.message).toContain('Nothing was changed')
    await expectSourceUntouched(name, run, NO_RESTART)
  })
})

describe('a failed restore: the source continues from its checkpoint', () => {
  it('when CRIU cannot restore on B, the error says why, and the count goes on on A', async () => {
    const name = `${PREFIX}-restore-fails`
    const source = await runOnA({
      name,
      image: BUSYBOX,
      volumes: { [`${name}-data`]: '/data' },
      cmd: [
        'sh',
        '-c',
        'exec 4>>/data/held; i=0; while :; do i=$((i+1)); echo $i >&4; echo $i; usleep 100000; done',
      ],
    })
    await expect.poll(async () => (await loggedNumbers(source)).length, POLL).toBeGreaterThan(3)
    // The file the process holds open disappears from the restored volume: CRIU cannot
    // reopen it at B.
    const removeHeldFile = defineStage('sabotage', async (state) => {
      const volume = state.restoredVolumes[`${name}-data`] as string
      await runOnce(B, {
        image: BUSYBOX,
        cmd: ['rm', '/data/held'],
        hostConfig: { Binds: [`${volume}:/data`] },
        labels: LABELS,
      })
      return state
    })
    const run = await migrateRunning(name, { sabotage: removeHeldFile })
    const error = expectFailure(run, 'RESTORE_FAILED')
    expect(error.message).toContain(
      `could not start ${name} on ${env.TESTENV_HOST_B} from checkpoint`,
    )
    expect(error.message).toContain('criu failed')
    expect(error.message).toContain('the files the processes held open')
    expect(error.message).toMatch(/Undone: .*start .* again .* from its checkpoint/)
    expect(error.message).not.toContain('Could NOT undo')

    // Rolled back: nothing on B, the source runs again with its count going on.
    expect(await containerOn(B, name)).toBeUndefined()
    const inspect = await source.inspect()
    expect(inspect.State.Running).toBe(true)
    expect(inspect.HostConfig.RestartPolicy).toMatchObject(ON_FAILURE)
    const before = (await loggedNumbers(source)).length
    await expect
      .poll(async () => (await loggedNumbers(source)).length, POLL)
      .toBeGreaterThan(before)
    expectConsecutive(await loggedNumbers(source))
    expectConsecutive(numbersIn(await exec(source, ['cat', '/data/held'])))
    // The stale checkpoint is gone from A.
    expect(await A.getContainer(name).listCheckpoint()).not.toEqual(
      expect.arrayContaining([expect.objectContaining({ Name: expect.stringContaining(run.id) })]),
    )
  })
})

describe('starting from a checkpoint', () => {
  it('restores a checkpoint with a marker file added (what a start does after "already exists")', async () => {
    const name = `${PREFIX}-marker`
    const container = await B.createContainer({
      name,
      Image: BUSYBOX,
      Cmd: COUNTER_ONLY,
      Labels: LABELS,
    })
    await container.start()
    await expect.poll(async () => (await loggedNumbers(container)).length, POLL).toBeGreaterThan(3)
    await container.createCheckpoint({ CheckpointID: 'marked', Exit: true })
    const last = (await loggedNumbers(container)).at(-1) as number
    const { DockerRootDir } = await engineB.info()
    const checkpointDir = `${DockerRootDir}/containers/${container.id}/checkpoints`
    await addCheckpointMarker(engineB, BUSYBOX, checkpointDir, 'marked')
    await startFromCheckpoint(engineB, container.id, 'marked', { checkpointDir })
    await expect
      .poll(async () => (await loggedNumbers(container)).length, POLL)
      .toBeGreaterThan(last + 2)
    expectConsecutive(await loggedNumbers(container))
  })
})

async function doctorCheck(url: string, name: string): Promise<EngineCheck | undefined> {
  return (await diagnoseEngine(url)).find((check) => check.name === name)
}

describe('transship doctor', () => {
  it('checks checkpoint and restore on a TCP listener', async () => {
    expect(await doctorCheck(env.TESTENV_HOST_A, 'checkpoint and restore')).toMatchObject({
      ok: true,
      detail: expect.stringContaining('(a TCP listener)'),
    })
  })

  it('explains established TCP connections, and what works, without making them required', async () => {
    const check = await doctorCheck(env.TESTENV_HOST_B, 'established TCP connections')
    expect(check).toMatchObject({ ok: false, required: false })
    expect(check?.detail).toContain('CRIU refuses them')
    expect(check?.hint).toContain(`the line \`tcp-established\` in that file`)
    expect(check?.hint).toContain(RUNC_CRIU_CONF)
  })
})

describe(`established TCP connections with \`tcp-established\` in ${RUNC_CRIU_CONF}`, () => {
  let original: string | undefined
  let dirExisted = true

  beforeAll(async () => {
    original = await readFile(RUNC_CRIU_CONF, 'utf8').catch(() => undefined)
    dirExisted = await stat(CRIU_CONF_DIR).then(
      () => true,
      () => false,
    )
    await configureCriu(`${original ?? ''}\ntcp-established\n`)
  })

  afterAll(async () => {
    // As it was: other tests must see the engines' hosts unchanged.
    await configureCriu(original)
    if (!dirExisted) await rmdir(CRIU_CONF_DIR).catch(() => {})
  })

  it('transship doctor passes its established TCP check', async () => {
    expect(await doctorCheck(env.TESTENV_HOST_A, 'established TCP connections')).toMatchObject({
      ok: true,
    })
  })

  it('a client connected to a server inside the container stays connected on B', async () => {
    const name = `${PREFIX}-tcp-established`
    await startSubscriber(name)
    const run = await migrateRunning(name)
    const state = expectSuccess(run)
    expect(state.checkpoint?.tcpEstablished).toBe(true)
    const target = B.getContainer(name)
    // The restored subscriber's connection is the one it opened on A.
    expect(await exec(target, ['redis-cli', 'publish', 'news', `moved ${PREFIX}`])).toBe('1')
    await expect
      .poll(async () => demultiplexStdout((await target.logs({ stdout: true })) as Buffer), POLL)
      .toContain(`moved ${PREFIX}`)
  })
})

/** Writes runc's CRIU configuration on the engines' host (both engines share its /etc). */
async function configureCriu(content: string | undefined): Promise<void> {
  if (content === undefined) {
    await rm(RUNC_CRIU_CONF, { force: true })
    return
  }
  await mkdir(CRIU_CONF_DIR, { recursive: true })
  await writeFile(RUNC_CRIU_CONF, content)
}
