import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type Docker from 'dockerode'
import { pack } from 'tar-stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  backupVolumes,
  connectEngine,
  createTarget,
  type EngineClient,
  inspectSource,
  type MigrationEvent,
  type MigrationState,
  readManifest,
  restoreVolumes,
  rollbackOnFailure,
  serializeManifest,
  startMigration,
  startTarget,
  stopSource,
  type Transport,
  writeManifest,
} from '../../packages/core/src/index.js'
import { backupLayer } from '../../packages/core/src/stages/layer/backupLayer.js'
import {
  DERIVED_IMAGE_REPOSITORY,
  restoreLayer,
} from '../../packages/core/src/stages/layer/restoreLayer.js'
import { createLocalTransport } from '../../packages/transport-local/src/index.js'
import { removeLabelled } from '../support/cleanup.js'
import { IDLE_COMMAND } from '../support/containers.js'
import { dockerAt, execIn, TEST_LABEL } from '../support/docker.js'
import {
  expectLayerContent,
  LAYER_BASE_SCRIPT,
  LAYER_MOUNTS,
  type Listing,
  layerChanges,
  layerDiff,
  layerListing,
  linkGroups,
  listingDifferences,
} from '../support/layerChecks.js'
import { testEnv } from '../support/testenv.js'

const env = testEnv()
const ENGINES = { A: env.TESTENV_HOST_A, B: env.TESTENV_HOST_B, C: env.TESTENV_HOST_C }
type Host = keyof typeof ENGINES
const docker: Record<Host, Docker> = {
  A: dockerAt(ENGINES.A),
  B: dockerAt(ENGINES.B),
  C: dockerAt(ENGINES.C),
}
const PREFIX = `e2e-layer-${randomBytes(3).toString('hex')}`
/** On everything this file creates: cleanup by label. */
const LABELS = { ...TEST_LABEL, 'transship.test.file': 'e2e/layer' }
const BASE_IMAGE = `transship-test/layer-base:${PREFIX}`
const GIB = 1024 ** 3
const MOUNTS = LAYER_MOUNTS
const BASE_SCRIPT = LAYER_BASE_SCRIPT
/** What the migrated container does to its image, and what the target must show. */
const { script: CHANGES_SCRIPT, expected: EXPECTED } = layerChanges({ bigMiB: 1024, mounts: true })

const engines: Partial<Record<Host, EngineClient>> = {}
let staging: string
let transport: Transport

/** What a pipeline did: its last state, warnings, and each stage's duration. */
interface Run {
  readonly state: MigrationState
  readonly warnings: string[]
  readonly durations: Record<string, number>
}

async function run(events: ReturnType<typeof startMigration>): Promise<Run> {
  const all = await new Promise<MigrationEvent[]>((resolve, reject) => {
    const seen: MigrationEvent[] = []
    events.subscribe({
      next: (event) => seen.push(event),
      error: reject,
      complete: () => resolve(seen),
    })
  })
  const states = all.flatMap((event) => (event.type === 'state' ? [event.state] : []))
  return {
    state: states.at(-1) as MigrationState,
    warnings: all.flatMap((event) => (event.type === 'warning' ? [event.message] : [])),
    durations: Object.fromEntries(
      all.flatMap((event) =>
        event.type === 'stage-finished' ? [[event.stage, event.durationMs]] : [],
      ),
    ),
  }
}

/** Makes the source container on `host` (which holds the base image), with every change. */
async function makeSource(host: Host, name: string): Promise<Docker.Container> {
  const container = await docker[host].createContainer({
    name,
    Image: BASE_IMAGE,
    Cmd: [...IDLE_COMMAND],
    Labels: LABELS,
    HostConfig: {
      Mounts: [
        {
          Type: 'volume',
          Source: `${name}-vol`,
          Target: MOUNTS.volume,
          VolumeOptions: { Labels: LABELS },
        } as unknown as Docker.MountSettings,
      ],
      Tmpfs: { [MOUNTS.tmpfs]: '' },
    },
  })
  await container.start()
  const result = await execIn(container, ['sh', '-c', CHANGES_SCRIPT])
  expect(result.stderr).toBe('')
  expect(result.exitCode).toBe(0)
  return container
}

/** The backup half, with the layer: inspect, stop, volumes, layer, manifest. */
function backupHalf(
  engine: EngineClient,
  container: string,
  changesRead?: 'paths' | 'export',
): Promise<Run> {
  return run(
    startMigration().pipe(
      inspectSource({ engine, container }),
      stopSource({ engine }),
      backupVolumes({ engine, transport }),
      backupLayer({ engine, transport, ...(changesRead ? { changesRead } : {}) }),
      writeManifest({ transport }),
    ),
  )
}

/** The restore half, with the layer written between create and start. */
function restoreHalf(engine: EngineClient, id: string): Promise<Run> {
  return run(
    startMigration({ id }).pipe(
      // Staged in plaintext, as these stages are composed here: read only as `insecure`
      // (sealing and its refusals are e2e/staging-trust's).
      readManifest({ transport, id, insecure: true }),
      restoreVolumes({ engine, transport }),
      createTarget({ engine }),
      restoreLayer({ engine, transport }),
      startTarget({ engine }),
    ),
  )
}

const diffOf = (host: Host, id: string) => layerDiff(docker[host], id)
const listingOf = (host: Host, id: string) => layerListing(docker[host], id)
const differences = listingDifferences
const expectTargetContent = (host: Host, id: string) =>
  expectLayerContent(docker[host], id, EXPECTED)

/** Reads `docker export` of a container to its end, for the reference speed. */
async function exportSeconds(host: Host, id: string): Promise<number> {
  const started = performance.now()
  const archive = (await docker[host].getContainer(id).export()) as NodeJS.ReadableStream
  await pipeline(archive, new Writable({ write: (_chunk, _encoding, callback) => callback() }))
  return (performance.now() - started) / 1000
}

async function copyImage(from: Host, to: Host, image: string): Promise<void> {
  const saved = (await docker[from].getImage(image).get()) as NodeJS.ReadableStream
  const answer = (await docker[to].loadImage(saved, { quiet: true })) as NodeJS.ReadableStream
  for await (const _ of answer) {
    // drain the engine's messages
  }
}

beforeAll(async () => {
  for (const host of Object.keys(ENGINES) as Host[]) {
    engines[host] = await connectEngine(ENGINES[host])
  }
  staging = await mkdtemp(join(tmpdir(), `${PREFIX}-staging-`))
  transport = createLocalTransport({ base: staging })
  // The base image: busybox with a known tree, made on A and loaded on B and C.
  const builder = await docker.A.createContainer({
    Image: env.TESTENV_IMAGE_BUSYBOX,
    Cmd: ['sh', '-c', BASE_SCRIPT],
    Labels: LABELS,
  })
  await builder.start()
  expect(await builder.wait()).toMatchObject({ StatusCode: 0 })
  await builder.commit({ repo: 'transship-test/layer-base', tag: PREFIX })
  await builder.remove()
  await copyImage('A', 'B', BASE_IMAGE)
  await copyImage('A', 'C', BASE_IMAGE)
}, 300_000)

afterAll(async () => {
  await Promise.all(
    (Object.keys(ENGINES) as Host[]).map((host) => removeLabelled(docker[host], LABELS)),
  )
  for (const host of Object.keys(ENGINES) as Host[]) {
    const images = await docker[host].listImages({
      filters: { reference: [BASE_IMAGE, `${DERIVED_IMAGE_REPOSITORY}:${PREFIX}*`] },
    })
    for (const image of images) {
      await docker[host]
        .getImage(image.Id)
        .remove({ force: true })
        .catch(() => {})
    }
    await engines[host]?.close()
  }
  await rm(staging, { recursive: true, force: true })
}, 300_000)

describe('the layer of an overlay2 container (A), with every kind of change and 1 GiB', () => {
  const name = `${PREFIX}-a`
  let backup: Run
  let sourceDiff: string[]
  let sourceListing: Listing

  beforeAll(async () => {
    await makeSource('A', name)
    backup = await backupHalf(engines.A as EngineClient, name)
    sourceDiff = await diffOf('A', name)
    sourceListing = await listingOf('A', name)
  }, 600_000)

  it('is backed up as one artifact, read from the UpperDir', () => {
    const { layer, artifacts, manifest } = backup.state
    expect(layer).toMatchObject({ method: 'overlay2', artifact: 'layer.tar' })
    expect(manifest?.layer).toEqual(layer)
    const artifact = artifacts.find((a) => a.kind === 'layer')
    expect(artifact).toMatchObject({ key: 'layer.tar', encoding: 'tar' })
    expect(artifact?.size).toBeGreaterThan(GIB)
    const counts = layer?.changes
    expect(counts?.deleted).toBeGreaterThanOrEqual(5)
    expect((counts?.added ?? 0) + (counts?.changed ?? 0)).toBeGreaterThan(15)
    expect(backup.warnings.filter((w) => w.includes('layer'))).toEqual([])
    // The source's diff lists the hidden entries of the re-created directory as deleted.
    expect(sourceDiff).toContain('D /opt/recreated/old1')
    expect(sourceDiff).toContain('D /opt/recreated/sub/old3')
  })

  it('A → B (overlay2): the target lists the same changes and holds the same files', async () => {
    const restored = await restoreHalf(engines.B as EngineClient, backup.state.id as string)
    const target = restored.state.target?.id as string
    expect(await diffOf('B', target)).toEqual(sourceDiff)
    const targetListing = await listingOf('B', target)
    expect(differences(sourceListing, targetListing)).toEqual([])
    expect(linkGroups(targetListing)).toEqual(linkGroups(sourceListing))
    expect(linkGroups(sourceListing)).toEqual([['/opt/app/h3', '/opt/links/h1', '/opt/links/h2']])
    await expectTargetContent('B', target)
    expect((await docker.B.getContainer(target).inspect()).Image).toBe(
      (await docker.A.getContainer(name).inspect()).Image,
    )
    const seconds = (restored.durations['restore-layer'] ?? 0) / 1000
    const backupSeconds = (backup.durations['backup-layer'] ?? 0) / 1000
    const reference = await exportSeconds('A', name)
    console.info(
      `layer with 1 GiB, A → B: backup-layer ${backupSeconds.toFixed(2)} s, restore-layer ${seconds.toFixed(2)} s, ` +
        `docker export of the source ${reference.toFixed(2)} s: ratio ${((backupSeconds + seconds) / reference).toFixed(2)}`,
    )
  })

  it('A → C (vfs): the layer goes into a derived image, and the target holds the same files', async () => {
    const restored = await restoreHalf(engines.C as EngineClient, backup.state.id as string)
    console.info(
      `layer with 1 GiB, A → C (derived image): restore-layer ${((restored.durations['restore-layer'] ?? 0) / 1000).toFixed(2)} s`,
    )
    const target = restored.state.target?.id as string
    const targetListing = await listingOf('C', target)
    expect(differences(sourceListing, targetListing)).toEqual([])
    expect(linkGroups(targetListing)).toEqual(linkGroups(sourceListing))
    await expectTargetContent('C', target)
    const inspect = await docker.C.getContainer(target).inspect()
    expect(inspect.Name).toBe(`/${name}`)
    expect(inspect.Config.Image).toMatch(/^sha256:/)
    const derived = await docker.C.getImage(inspect.Image).inspect()
    expect(derived.RepoTags).toEqual([`${DERIVED_IMAGE_REPOSITORY}:${backup.state.id}`])
    expect(restored.warnings.some((w) => w.includes('has no overlay2 UpperDir'))).toBe(true)
    // The layer's changes are in the image: the target's own layer holds none of them.
    expect((await diffOf('C', target)).filter((line) => line.includes(' /opt'))).toEqual([])
    // The container createTarget made was replaced: one container of that name remains.
    const named = await docker.C.listContainers({ all: true, filters: { name: [name] } })
    expect(named.map((c) => c.Id)).toEqual([target])
  })
})

describe('the layer of a vfs container (C), read through docker diff and the archive API', () => {
  const name = `${PREFIX}-c`
  let backup: Run
  let sourceDiff: string[]
  let sourceListing: Listing

  beforeAll(async () => {
    await makeSource('C', name)
    backup = await backupHalf(engines.C as EngineClient, name)
    sourceDiff = await diffOf('C', name)
    sourceListing = await listingOf('C', name)
  }, 600_000)

  it('is backed up with method changes, and a warning', () => {
    expect(backup.state.layer).toMatchObject({ method: 'changes', artifact: 'layer.tar' })
    expect(backup.warnings).toContainEqual(expect.stringContaining('exposes no overlay2 UpperDir'))
    expect(sourceDiff).toContain('D /opt/recreated/old1')
  })

  it('C → B (overlay2), read from the export: the same changes, the same files, the same hard links', async () => {
    const restored = await restoreHalf(engines.B as EngineClient, backup.state.id as string)
    console.info(
      `layer with 1 GiB, C → B: backup-layer (from the export) ${((backup.durations['backup-layer'] ?? 0) / 1000).toFixed(2)} s, ` +
        `restore-layer ${((restored.durations['restore-layer'] ?? 0) / 1000).toFixed(2)} s`,
    )
    const target = restored.state.target?.id as string
    expect(await diffOf('B', target)).toEqual(sourceDiff)
    const targetListing = await listingOf('B', target)
    expect(differences(sourceListing, targetListing)).toEqual([])
    expect(linkGroups(sourceListing)).toEqual([['/opt/app/h3', '/opt/links/h1', '/opt/links/h2']])
    expect(linkGroups(targetListing)).toEqual(linkGroups(sourceListing))
    await expectTargetContent('B', target)
  })

  it('C → C, read path by path: the same files; a hard link across directories arrives as a copy, with a warning', async () => {
    const paths = await backupHalf(engines.C as EngineClient, name, 'paths')
    console.info(
      `layer with 1 GiB on C, path by path: backup-layer ${((paths.durations['backup-layer'] ?? 0) / 1000).toFixed(2)} s`,
    )
    expect(paths.warnings).toContainEqual(expect.stringContaining('read path by path'))
    const restored = await run(
      startMigration({ id: paths.state.id as string }).pipe(
        readManifest({ transport, id: paths.state.id as string, insecure: true }),
        restoreVolumes({ engine: engines.C as EngineClient, transport, onConflict: 'rename' }),
        createTarget({ engine: engines.C as EngineClient, name: `${name}-copy` }),
        restoreLayer({ engine: engines.C as EngineClient, transport }),
      ),
    )
    const target = restored.state.target?.id as string
    // This backup found the source stopped already: startTarget would leave the target.
    await docker.C.getContainer(target).start()
    const targetListing = await listingOf('C', target)
    expect(differences(sourceListing, targetListing)).toEqual([])
    expect(linkGroups(targetListing)).toEqual([['/opt/links/h1', '/opt/links/h2']])
    await expectTargetContent('C', target)
  })
})

/** A tar archive of `members` (tar-stream). */
async function tarOf(members: { name: string; content?: string }[]): Promise<Buffer> {
  const packer = pack()
  const chunks: Buffer[] = []
  const collected = (async () => {
    for await (const chunk of packer) chunks.push(chunk as Buffer)
  })()
  for (const { name, content } of members) {
    packer.entry(content === undefined ? { name, type: 'directory' } : { name }, content ?? '')
  }
  packer.finalize()
  await collected
  return Buffer.concat(chunks)
}

describe('a layer that fails its checks changes nothing', () => {
  let base: MigrationState

  beforeAll(async () => {
    const name = `${PREFIX}-small`
    await makeSmallSource(name)
    base = (await backupHalf(engines.A as EngineClient, name)).state
  }, 120_000)

  async function makeSmallSource(name: string): Promise<void> {
    const container = await docker.A.createContainer({
      name,
      Image: BASE_IMAGE,
      Cmd: [...IDLE_COMMAND],
      Labels: LABELS,
    })
    await container.start()
    expect((await execIn(container, ['sh', '-c', 'echo x > /opt/x'])).exitCode).toBe(0)
  }

  /**
   * A backup like `base` under a new id whose layer is `layer`; the manifest gives the
   * size and sha256 of `listed` (the layer itself by default).
   */
  async function stage(tag: string, layer: Buffer, listed = layer): Promise<string> {
    const manifest = base.manifest as NonNullable<MigrationState['manifest']>
    const id = `${manifest.id}-${tag}`
    const sha256 = createHash('sha256').update(listed).digest('hex')
    await mkdir(join(staging, id))
    await writeFile(join(staging, id, 'layer.tar'), layer)
    const artifact = {
      key: 'layer.tar',
      kind: 'layer' as const,
      size: listed.length,
      sha256,
      encoding: 'tar' as const,
    }
    await writeFile(
      join(staging, id, 'manifest.json'),
      serializeManifest({
        ...manifest,
        id,
        source: { ...manifest.source, name: `${PREFIX}-${tag}` },
        artifacts: [artifact],
        layer: {
          method: 'overlay2',
          artifact: 'layer.tar',
          changes: { added: 1, changed: 0, deleted: 0 },
        },
      }),
    )
    return id
  }

  function restoreWith(engine: EngineClient, id: string, rollback: boolean): Promise<Run> {
    const stages = startMigration({ id }).pipe(
      readManifest({ transport, id, insecure: true }),
      createTarget({ engine }),
      restoreLayer({ engine, transport }),
    )
    return run(rollback ? stages.pipe(rollbackOnFailure()) : stages)
  }

  it('on C, corrupt bytes: INTEGRITY; no derived image is left, the target stays as created', async () => {
    const good = await tarOf([{ name: 'opt/' }, { name: 'opt/y', content: 'y' }])
    const corrupt = Buffer.from(good)
    corrupt[1024] = 0x7a // the content of opt/y
    const id = await stage('corrupt-c', corrupt, good)
    const failure = await restoreWith(engines.C as EngineClient, id, false).catch((e: unknown) => e)
    expect(failure).toMatchObject({ code: 'INTEGRITY' })
    const state = (failure as { state: MigrationState }).state
    const target = state.target?.id as string
    expect((await docker.C.getContainer(target).inspect()).Image).toBe(
      (await docker.C.getImage(BASE_IMAGE).inspect()).Id,
    )
    const derived = await docker.C.listImages({
      filters: { reference: [`${DERIVED_IMAGE_REPOSITORY}:${id}`] },
    })
    expect(derived).toEqual([])
  })

  it('on C and on B, a member that escapes the root: UNSAFE_ARCHIVE, and rollback removes the target', async () => {
    const escaping = await tarOf([
      { name: '../escaped', content: 'out' },
      { name: 'opt/z', content: 'z' },
    ])
    for (const host of ['C', 'B'] as const) {
      const id = await stage(`escape-${host.toLowerCase()}`, escaping)
      const failure = await restoreWith(engines[host] as EngineClient, id, true).catch(
        (e: unknown) => e,
      )
      expect(failure).toMatchObject({ code: 'UNSAFE_ARCHIVE' })
      expect((failure as Error).message).toContain('"../escaped"')
      expect((failure as Error).message).not.toContain('Could NOT undo')
      const named = await docker[host].listContainers({
        all: true,
        filters: { name: [`${PREFIX}-escape-${host.toLowerCase()}`] },
      })
      expect(named).toEqual([])
    }
  })
})
