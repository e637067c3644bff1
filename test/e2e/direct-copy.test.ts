// The direct route's stages (copyImage, copyLayer, copyCheckpoint, resumeTarget), composed
// into small pipelines from engine to engine, with no transport in between.

import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  backupLayer,
  checkDestination,
  checkpointSource,
  connectEngine,
  copyCheckpoint,
  copyImage,
  copyLayer,
  createTarget,
  DERIVED_IMAGE_REPOSITORY,
  type EngineClient,
  HELPER_LABEL,
  inspectSource,
  type MigrationEvent,
  type MigrationState,
  restoreLayer,
  restoreVolumes,
  resumeTarget,
  rollbackOnFailure,
  startMigration,
  startTarget,
  stopSource,
  type Transport,
  TransshipError,
} from '@transship/core'
import type Docker from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLocalTransport } from '../../packages/transport-local/src/index.js'
import { removeLabelled } from '../support/cleanup.js'
import { IDLE_COMMAND } from '../support/containers.js'
import { dockerAt, execIn, TEST_LABEL } from '../support/docker.js'
import {
  expectLayerContent,
  LAYER_BASE_SCRIPT,
  type Listing,
  layerChanges,
  layerDiff,
  layerListing,
  linkGroups,
  listingDifferences,
} from '../support/layerChecks.js'
import { testEnv } from '../support/testenv.js'

const env = testEnv()
const docker = {
  A: dockerAt(env.TESTENV_HOST_A),
  B: dockerAt(env.TESTENV_HOST_B),
  C: dockerAt(env.TESTENV_HOST_C),
}
const PREFIX = `e2e-direct-${randomBytes(3).toString('hex')}`
/** On everything this file creates: cleanup by label. */
const LABELS = { ...TEST_LABEL, 'transship.test.file': 'e2e/direct-copy' }
/** Made on A only: B and C lack it, so copyImage sends it (without busybox's layers). */
const BASE_IMAGE = `transship-test/direct-base:${PREFIX}`
const LAYER = layerChanges({ bigMiB: 64, mounts: false })
const POLL = { timeout: 15_000, interval: 200 }

type Operator = (source: ReturnType<typeof startMigration>) => ReturnType<typeof startMigration>

interface Run {
  readonly events: MigrationEvent[]
  state?: MigrationState
  error?: unknown
}

const engines: Partial<Record<keyof typeof docker, EngineClient>> = {}
const engine = (host: keyof typeof docker) => engines[host] as EngineClient
let staging: string
let transport: Transport

/** Runs a pipeline to its end, keeping every event, the last state and the failure. */
async function run(
  stages: readonly Operator[],
  options: { signal?: AbortSignal; onEvent?: (event: MigrationEvent) => void } = {},
) {
  const result: Run = { events: [] }
  try {
    await stages
      .reduce(
        (source, stage) => stage(source),
        startMigration(options.signal ? { signal: options.signal } : {}),
      )
      .forEach((event) => {
        result.events.push(event)
        options.onEvent?.(event)
        if (event.type === 'state') result.state = event.state
      })
  } catch (error) {
    result.error = error
  }
  return result
}

function expectSuccess(result: Run): MigrationState {
  expect(result.error, String(result.error)).toBeUndefined()
  return result.state as MigrationState
}

const stagesOf = (result: Run) =>
  result.events.flatMap((event) => (event.type === 'stage-finished' ? [event.stage] : []))
const warningsOf = (result: Run) =>
  result.events.flatMap((event) => (event.type === 'warning' ? [event.message] : []))

/** Starts a labelled container of BASE_IMAGE on A that changes its layer as LAYER says. */
async function layerSource(name: string, extra = ''): Promise<Docker.Container> {
  const container = await docker.A.createContainer({
    name,
    Image: BASE_IMAGE,
    Cmd: [...IDLE_COMMAND],
    Labels: LABELS,
    HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } },
  })
  await container.start()
  const result = await execIn(container, ['sh', '-c', `${LAYER.script}\n${extra}`])
  expect(result.stderr).toBe('')
  expect(result.exitCode).toBe(0)
  return container
}

async function containerOn(host: keyof typeof docker, name: string) {
  return docker[host]
    .getContainer(name)
    .inspect()
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode === 404) return undefined
      throw error
    })
}

async function helpersOn(host: keyof typeof docker): Promise<number> {
  return (await docker[host].listContainers({ all: true, filters: { label: [HELPER_LABEL] } }))
    .length
}

beforeAll(async () => {
  for (const host of Object.keys(docker) as (keyof typeof docker)[]) {
    engines[host] = await connectEngine(env[`TESTENV_HOST_${host}`])
  }
  staging = await mkdtemp(join(tmpdir(), `${PREFIX}-staging-`))
  transport = createLocalTransport({ base: staging })
  // The base image: busybox with a known tree and a random file (a new image ID), on A only.
  const builder = await docker.A.createContainer({
    Image: env.TESTENV_IMAGE_BUSYBOX,
    Cmd: ['sh', '-c', `${LAYER_BASE_SCRIPT}\nhead -c 65536 /dev/urandom > /opt/random`],
    Labels: LABELS,
  })
  await builder.start()
  expect(await builder.wait()).toMatchObject({ StatusCode: 0 })
  await builder.commit({ repo: 'transship-test/direct-base', tag: PREFIX })
  await builder.remove()
}, 300_000)

afterAll(async () => {
  for (const host of Object.keys(docker) as (keyof typeof docker)[]) {
    await removeLabelled(docker[host], LABELS)
    const images = await docker[host].listImages({
      filters: { reference: [BASE_IMAGE, `${DERIVED_IMAGE_REPOSITORY}:*${PREFIX}*`] },
    })
    const base = await docker[host]
      .getImage(BASE_IMAGE)
      .inspect()
      .catch(() => undefined)
    const ids = new Set([...images.map((image) => image.Id), ...(base ? [base.Id] : [])])
    for (const id of ids) {
      await docker[host]
        .getImage(id)
        .remove({ force: true })
        .catch(() => {})
    }
    await engines[host]?.close()
  }
  await rm(staging, { recursive: true, force: true })
}, 300_000)

describe('image and layer, A → B without staging', () => {
  const name = `${PREFIX}-layer`
  let direct: Run
  let sourceDiff: string[]
  let sourceListing: Listing

  beforeAll(async () => {
    await layerSource(name)
    expect(
      await docker.B.getImage(BASE_IMAGE)
        .inspect()
        .catch(() => undefined),
    ).toBeUndefined()
    direct = await run([
      inspectSource({ engine: engine('A'), container: name }),
      checkDestination({ engine: engine('B'), sendImage: true, hostAccess: 'warn' }),
      copyImage({ source: engine('A'), destination: engine('B') }),
      // The direct route creates the target while the source still runs.
      createTarget({ engine: engine('B') }),
      stopSource({ engine: engine('A') }),
      copyLayer({ source: engine('A'), destination: engine('B') }),
      startTarget({ engine: engine('B') }),
      rollbackOnFailure(),
    ])
    sourceDiff = await layerDiff(docker.A, name)
    sourceListing = await layerListing(docker.A, name)
  }, 600_000)

  it('runs the stages in order and records both artifacts as a backup would', () => {
    const state = expectSuccess(direct)
    expect(stagesOf(direct)).toEqual([
      'inspect',
      'check-destination',
      'copy-image',
      'create-target',
      'stop-source',
      'copy-layer',
      'start-target',
    ])
    const image = state.artifacts.find((a) => a.kind === 'image')
    const layer = state.artifacts.find((a) => a.kind === 'layer')
    expect(image).toMatchObject({ key: 'image.tar', encoding: 'tar' })
    expect(layer).toMatchObject({ key: 'layer.tar', encoding: 'tar' })
    expect(image?.sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(layer?.sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(layer?.size).toBeGreaterThan(64 * 1024 * 1024)
    expect(state.layer).toMatchObject({ method: 'overlay2', artifact: 'layer.tar' })
    expect(state.layer?.changes.deleted).toBeGreaterThanOrEqual(5)
    expect(state.downtime?.totalMs).toBeGreaterThan(0)
    for (const artifact of ['image', 'container layer']) {
      expect(direct.events.some((e) => e.type === 'progress' && e.artifact === artifact)).toBe(true)
    }
  })

  it('the image arrives on B, with its ID and tag, without the layers B held', async () => {
    const state = direct.state as MigrationState
    const onA = await docker.A.getImage(BASE_IMAGE).inspect()
    const onB = await docker.B.getImage(BASE_IMAGE).inspect()
    expect(onB.Id).toBe(onA.Id)
    expect(state.image).toMatchObject({ id: onA.Id, tags: [BASE_IMAGE], artifact: 'image.tar' })
    // B holds busybox: its layer did not travel.
    const busybox = await docker.B.getImage(env.TESTENV_IMAGE_BUSYBOX).inspect()
    expect(state.image?.omittedLayers).toEqual(busybox.RootFS?.Layers)
    const artifact = state.artifacts.find((a) => a.kind === 'image')
    expect(artifact?.size).toBeLessThan(2 * 1024 * 1024)
  })

  it('the layer arrives: the target lists the same changes and holds the same files', async () => {
    const target = (direct.state as MigrationState).target?.id as string
    expect(await layerDiff(docker.B, target)).toEqual(sourceDiff)
    expect(sourceDiff).toContain('D /opt/recreated/old1')
    const targetListing = await layerListing(docker.B, target)
    expect(listingDifferences(sourceListing, targetListing)).toEqual([])
    expect(linkGroups(targetListing)).toEqual([['/opt/app/h3', '/opt/links/h1', '/opt/links/h2']])
    await expectLayerContent(docker.B, target, LAYER.expected)
  })

  it('gives the same target as backupLayer and restoreLayer through a transport', async () => {
    const staged = await run([
      inspectSource({ engine: engine('A'), container: name }),
      stopSource({ engine: engine('A') }),
      backupLayer({ engine: engine('A'), transport }),
      createTarget({ engine: engine('B'), name: `${name}-staged` }),
      restoreLayer({ engine: engine('B'), transport }),
    ])
    const target = expectSuccess(staged).target?.id as string
    const directTarget = (direct.state as MigrationState).target?.id as string
    expect(await layerDiff(docker.B, target)).toEqual(await layerDiff(docker.B, directTarget))
    const [stagedListing, directListing] = await Promise.all([
      layerListing(docker.B, target),
      layerListing(docker.B, directTarget),
    ])
    expect(listingDifferences(stagedListing, directListing)).toEqual([])
  })

  it('A → C (vfs): the layer, read twice, goes into a derived image the target is made from', async () => {
    const result = await run([
      inspectSource({ engine: engine('A'), container: name }),
      checkDestination({ engine: engine('C'), sendImage: true, hostAccess: 'warn' }),
      copyImage({ source: engine('A'), destination: engine('C') }),
      createTarget({ engine: engine('C') }),
      stopSource({ engine: engine('A') }),
      copyLayer({ source: engine('A'), destination: engine('C') }),
      rollbackOnFailure(),
    ])
    const state = expectSuccess(result)
    const target = state.target?.id as string
    expect(warningsOf(result).some((w) => w.includes('has no overlay2 UpperDir'))).toBe(true)
    // The source was stopped already: the target is created, not started.
    await docker.C.getContainer(target).start()
    const targetListing = await layerListing(docker.C, target)
    expect(listingDifferences(sourceListing, targetListing)).toEqual([])
    expect(linkGroups(targetListing)).toEqual(linkGroups(sourceListing))
    await expectLayerContent(docker.C, target, LAYER.expected)
    const inspect = await docker.C.getContainer(target).inspect()
    const derived = await docker.C.getImage(inspect.Image).inspect()
    expect(derived.RootFS?.Layers?.at(-1)).toBe(
      `sha256:${state.artifacts.find((a) => a.kind === 'layer')?.sha256}`,
    )
    // The container createTarget made was replaced: one of that name remains.
    const named = await docker.C.listContainers({ all: true, filters: { name: [name] } })
    expect(named.map((c) => c.Id)).toEqual([target])
  })
})

describe('a checkpoint, A → B without staging', () => {
  it('redis keeps the keys it held only in memory, and answers on B', async () => {
    const name = `${PREFIX}-redis`
    const source = await docker.A.createContainer({
      name,
      Image: env.TESTENV_IMAGE_REDIS,
      Labels: LABELS,
      HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 } },
    })
    await source.start()
    await expect
      .poll(() => execIn(source, ['redis-cli', 'ping']).then((r) => r.stdout.trim()), POLL)
      .toBe('PONG')
    const pairs = Array.from({ length: 300 }, (_, i) => [`key:${i}`, `value ${i} ${PREFIX}`]).flat()
    expect((await execIn(source, ['redis-cli', 'mset', ...pairs])).stdout.trim()).toBe('OK')

    const result = await run([
      // Its /data volume is not selected: re-created empty, nothing read from the transport.
      inspectSource({ engine: engine('A'), container: name, volumes: [] }),
      checkDestination({ engine: engine('B'), sendImage: true, hostAccess: 'warn' }),
      copyImage({ source: engine('A'), destination: engine('B') }),
      restoreVolumes({ engine: engine('B'), transport }),
      createTarget({ engine: engine('B') }),
      checkpointSource({ engine: engine('A'), destination: engine('B') }),
      copyLayer({ source: engine('A'), destination: engine('B') }),
      copyCheckpoint({ source: engine('A'), destination: engine('B') }),
      resumeTarget({ engine: engine('B') }),
      rollbackOnFailure(),
    ])
    const state = expectSuccess(result)

    const target = docker.B.getContainer(name)
    expect((await execIn(target, ['redis-cli', 'dbsize'])).stdout.trim()).toBe('300')
    expect((await execIn(target, ['redis-cli', 'get', 'key:123'])).stdout.trim()).toBe(
      `value 123 ${PREFIX}`,
    )
    expect((await source.inspect()).State.Running).toBe(false)

    expect(stagesOf(result).slice(-3)).toEqual(['copy-layer', 'copy-checkpoint', 'resume-target'])
    const artifact = state.artifacts.find((a) => a.kind === 'checkpoint')
    expect(artifact).toMatchObject({ key: 'checkpoint.tar', encoding: 'tar' })
    expect(artifact?.size).toBeGreaterThan(0)
    expect(state.checkpoint?.tcpEstablished).toBe(false)
    expect(result.events.some((e) => e.type === 'progress' && e.artifact === 'checkpoint')).toBe(
      true,
    )
    const { downtime } = state
    expect(downtime).toBeDefined()
    if (downtime) {
      expect(downtime.checkpointMs + downtime.transferMs + downtime.restoreMs).toBe(
        downtime.totalMs,
      )
      expect(downtime.checkpointMs).toBeGreaterThan(0)
      // The copy of the checkpoint is transfer; the restore is resume-target alone.
      const copy = result.events.find(
        (e) => e.type === 'stage-finished' && e.stage === 'copy-checkpoint',
      )
      expect(copy && 'durationMs' in copy ? copy.durationMs : -1).toBeLessThanOrEqual(
        downtime.transferMs,
      )
      expect(downtime.restoreMs).toBeGreaterThan(0)
    }
  })
})

describe('a failure puts everything back', () => {
  /** The frozen, checkpointed route of a layer source, failing somewhere in copyLayer. */
  function checkpointed(
    name: string,
    signal?: AbortSignal,
    onEvent?: (event: MigrationEvent) => void,
  ) {
    return run(
      [
        inspectSource({ engine: engine('A'), container: name }),
        checkDestination({ engine: engine('B'), sendImage: true, hostAccess: 'warn' }),
        copyImage({ source: engine('A'), destination: engine('B') }),
        createTarget({ engine: engine('B') }),
        checkpointSource({ engine: engine('A'), destination: engine('B') }),
        copyLayer({ source: engine('A'), destination: engine('B') }),
        copyCheckpoint({ source: engine('A'), destination: engine('B') }),
        resumeTarget({ engine: engine('B') }),
        rollbackOnFailure(),
      ],
      { ...(signal ? { signal } : {}), ...(onEvent ? { onEvent } : {}) },
    )
  }

  async function expectPutBack(name: string, helpers: { A: number; B: number }) {
    const source = await docker.A.getContainer(name).inspect()
    expect(source.State.Running).toBe(true)
    expect(source.HostConfig.RestartPolicy).toMatchObject({ Name: 'on-failure' })
    expect(await containerOn('B', name)).toBeUndefined()
    expect(await helpersOn('A')).toBe(helpers.A)
    expect(await helpersOn('B')).toBe(helpers.B)
  }

  it('a layer the guard refuses (a symlink climbing out of the root): the source runs again, the target is gone', async () => {
    const name = `${PREFIX}-unsafe`
    await layerSource(name, 'ln -s ../../../../../escaped /opt/climbs')
    const helpers = { A: await helpersOn('A'), B: await helpersOn('B') }
    const result = await checkpointed(name)
    expect(result.error).toBeInstanceOf(TransshipError)
    const error = result.error as TransshipError
    expect(error.code, error.message).toBe('UNSAFE_ARCHIVE')
    expect(error.message).toContain('copy-layer failed')
    expect(error.message).toContain('opt/climbs')
    expect(error.message).not.toContain('Could NOT undo')
    await expectPutBack(name, helpers)
  })

  it('interrupted while the layer streams into B: the source runs again from its checkpoint, the target is gone', async () => {
    const name = `${PREFIX}-interrupted`
    await layerSource(name)
    const helpers = { A: await helpersOn('A'), B: await helpersOn('B') }
    const controller = new AbortController()
    // Abort at the layer's first progress event: midway through its 64 MiB.
    const result = await checkpointed(name, controller.signal, (event) => {
      if (event.type === 'progress' && event.stage === 'copy-layer') controller.abort()
    })
    expect(controller.signal.aborted).toBe(true)
    expect(result.error).toBeInstanceOf(TransshipError)
    const error = result.error as TransshipError
    expect(error.code, error.message).toBe('INTERRUPTED')
    expect(error.message).toContain('copy-layer')
    expect(error.message).not.toContain('Could NOT undo')
    await expectPutBack(name, helpers)
  })
})
