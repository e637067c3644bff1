import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  connectEngine,
  defineStage,
  type EngineClient,
  inspectSource,
  type Manifest,
  type MigrationEvent,
  type MigrationState,
  parseManifest,
  readManifest,
  rollbackOnFailure,
  startMigration,
  writeManifest,
} from '@transship/core'
import type Docker from 'dockerode'
import { pack } from 'tar-stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backupImage } from '../../packages/core/src/stages/image/backupImage.js'
import { restoreImage } from '../../packages/core/src/stages/image/restoreImage.js'
import { createLocalTransport } from '../../packages/transport-local/src/index.js'
import { labelFilter, removeLabelled } from '../support/cleanup.js'
import { createIdleContainer } from '../support/containers.js'
import { dockerAt, TEST_LABEL } from '../support/docker.js'
import { runOnce } from '../support/runOnce.js'
import { testEnv } from '../support/testenv.js'

const env = testEnv()
const A = dockerAt(env.TESTENV_HOST_A)
const B = dockerAt(env.TESTENV_HOST_B)
const BASE = env.TESTENV_IMAGE_BUSYBOX
/** On everything this file creates, images included: cleanup by label. */
const LABELS = { ...TEST_LABEL, 'transship.test.file': 'e2e/image' }
const PREFIX = `e2e-img-${randomBytes(3).toString('hex')}`
/** The derived image's tags at the source. */
const TAGS = [`transship-e2e/${PREFIX}:1`, `transship-e2e/${PREFIX}:also`]
/** The file the derived image adds on top of the base, random so that its ID is new. */
const PAYLOAD = randomBytes(256 * 1024)

type Operator = (source: ReturnType<typeof startMigration>) => ReturnType<typeof startMigration>

interface Run {
  state?: MigrationState
  events: MigrationEvent[]
  error?: unknown
}

/** Runs a pipeline to its end, keeping every event, the last state and the failure. */
async function run(id: string, ...stages: Operator[]): Promise<Run> {
  const result: Run = { events: [] }
  const pipeline = stages.reduce<ReturnType<typeof startMigration>>(
    (source, stage) => stage(source),
    startMigration({ id }),
  )
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

const warningsOf = (result: Run) =>
  result.events.flatMap((event) => (event.type === 'warning' ? [event.message] : []))

/** Builds an image from the base with the legacy builder: one more layer, holding PAYLOAD. */
async function buildDerivedImage(docker: Docker): Promise<string> {
  const context = pack()
  context.entry({ name: 'Dockerfile' }, `FROM ${BASE}\nCOPY payload.bin /payload.bin\n`)
  context.entry({ name: 'payload.bin' }, PAYLOAD)
  context.finalize()
  const stream = await docker.buildImage(context as unknown as NodeJS.ReadableStream, {
    t: TAGS[0],
    labels: LABELS,
    rm: true,
  })
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (error, output: { error?: string }[]) => {
      const failure = error ?? output.find((message) => message.error)?.error
      if (failure) reject(failure instanceof Error ? failure : new Error(String(failure)))
      else resolve()
    })
  })
  const { repo, tag } = splitTag(TAGS[1] as string)
  await docker.getImage(TAGS[0] as string).tag({ repo, tag })
  return (await docker.getImage(TAGS[0] as string).inspect()).Id
}

function splitTag(reference: string): { repo: string; tag: string } {
  const colon = reference.lastIndexOf(':')
  return { repo: reference.slice(0, colon), tag: reference.slice(colon + 1) }
}

async function imageOn(docker: Docker, ref: string): Promise<Docker.ImageInspectInfo | undefined> {
  return docker
    .getImage(ref)
    .inspect()
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode === 404) return undefined
      throw error
    })
}

/** Removes the test's images (by label) from an engine, and its tags from other images. */
async function removeTestImages(docker: Docker): Promise<void> {
  const images = await docker.listImages({ filters: labelFilter(LABELS) })
  for (const image of images) await docker.getImage(image.Id).remove({ force: true })
  for (const tag of TAGS) {
    await docker
      .getImage(tag)
      .remove()
      .catch(() => {})
  }
}

let engineA: EngineClient
let engineB: EngineClient
let imageId: string
let baseLayer: string
let container: string
const stagingDirs: string[] = []

async function staging() {
  const dir = await mkdtemp(join(tmpdir(), `${PREFIX}-staging-`))
  stagingDirs.push(dir)
  return { dir, transport: createLocalTransport({ base: dir }) }
}

beforeAll(async () => {
  engineA = await connectEngine(env.TESTENV_HOST_A)
  engineB = await connectEngine(env.TESTENV_HOST_B)
  imageId = await buildDerivedImage(A)
  const base = await A.getImage(BASE).inspect()
  baseLayer = base.RootFS.Layers?.[0] as string
  // The premise: B has the base (same ID as on A) but not the derived image.
  expect((await B.getImage(BASE).inspect()).Id).toBe(base.Id)
  expect(await imageOn(B, imageId)).toBeUndefined()
  container = `${PREFIX}-app`
  await createIdleContainer(A, { name: container, image: TAGS[0] as string, labels: LABELS })
})

afterAll(async () => {
  await Promise.all([removeLabelled(A, LABELS), removeLabelled(B, LABELS)])
  await Promise.all([removeTestImages(A), removeTestImages(B)])
  await Promise.all([engineA?.close(), engineB?.close()])
  await Promise.all(stagingDirs.map((dir) => rm(dir, { recursive: true, force: true })))
})

/** The size of `docker save` of the derived image, for comparison. */
async function fullSaveSize(): Promise<number> {
  const stream = await A.getImage(imageId).get()
  let size = 0
  for await (const chunk of stream) size += (chunk as Buffer).length
  return size
}

describe('the image travels when the destination lacks it', () => {
  let fullSize: number
  let fullBackup: { id: string; transport: ReturnType<typeof createLocalTransport>; dir: string }

  it('a backup that does not know its destination carries the whole image', async () => {
    const { dir, transport } = await staging()
    const id = `${PREFIX}-full`
    const result = await run(
      id,
      inspectSource({ engine: engineA, container }),
      backupImage({ engine: engineA, transport }),
      writeManifest({ transport }),
    )
    expect(result.error).toBeUndefined()
    const manifest = result.state?.manifest as Manifest
    expect(manifest.image).toMatchObject({ id: imageId, artifact: 'image.tar', omittedLayers: [] })
    expect([...(manifest.image?.tags ?? [])].sort()).toEqual([...TAGS].sort())
    const artifact = manifest.artifacts.find((a) => a.kind === 'image')
    expect(artifact).toMatchObject({ key: 'image.tar', encoding: 'tar' })
    fullSize = await fullSaveSize()
    expect(artifact?.size).toBe(fullSize)
    expect((await stat(join(dir, id, 'image.tar'))).size).toBe(fullSize)
    fullBackup = { id, transport, dir }
  })

  it('restores it where a tag names another image: the image gets the free tags, the taken one is left alone', async () => {
    const { id, transport } = fullBackup
    const taken = splitTag(TAGS[1] as string)
    await B.getImage(BASE).tag(taken)
    try {
      const result = await run(
        id,
        // Staged in plaintext, as these stages are composed here: read only as `insecure`
        // (sealing and its refusals are e2e/staging-trust's).
        readManifest({ transport, id, insecure: true }),
        restoreImage({ engine: engineB, transport }),
      )
      expect(result.error).toBeUndefined()
      const loaded = await imageOn(B, imageId)
      expect(loaded?.RepoTags).toEqual([TAGS[0]])
      expect((await B.getImage(TAGS[1] as string).inspect()).RepoTags).toContain(TAGS[1])
      expect(warningsOf(result)).toEqual([
        expect.stringContaining(`tag ${TAGS[1]} on ${env.TESTENV_HOST_B} names another image`),
      ])
    } finally {
      await B.getImage(TAGS[1] as string).remove()
      await removeTestImages(B)
    }
  })

  describe('a migration A → B, where B has the base image', () => {
    let result: Run
    let dir: string
    const id = `${PREFIX}-thin`

    beforeAll(async () => {
      const made = await staging()
      dir = made.dir
      const { transport } = made
      result = await run(
        id,
        inspectSource({ engine: engineA, container }),
        backupImage({ engine: engineA, transport, destination: engineB }),
        writeManifest({ transport }),
        readManifest({ transport, id, insecure: true }),
        restoreImage({ engine: engineB, transport }),
      )
    })

    it('loads the image on B with the same ID and the tags it has on A', async () => {
      expect(result.error).toBeUndefined()
      const onA = await A.getImage(imageId).inspect()
      const onB = await imageOn(B, imageId)
      expect(onB?.Id).toBe(imageId)
      expect(onB?.RepoTags.sort()).toEqual(onA.RepoTags.sort())
      expect(onB?.RootFS).toEqual(onA.RootFS)
      expect(warningsOf(result)).toEqual([])
    })

    it('sends a thin save: without the base layer, which B holds', async () => {
      expect(result.state?.image?.omittedLayers).toEqual([baseLayer])
      const artifact = result.state?.artifacts.find((a) => a.kind === 'image')
      const size = (await stat(join(dir, id, 'image.tar'))).size
      expect(artifact?.size).toBe(size)
      // The base layer is 2 MiB, the added one 256 KiB.
      expect(size).toBeLessThan(fullSize / 4)
      expect(size).toBeGreaterThan(PAYLOAD.length)
    })

    it('gives a working image on B: its added file is there, byte for byte', async () => {
      expect(result.error).toBeUndefined()
      const sum = await runOnce(B, {
        image: imageId,
        cmd: ['md5sum', '/payload.bin'],
        labels: LABELS,
      })
      expect(sum.split(' ')[0]).toBe(createHash('md5').update(PAYLOAD).digest('hex'))
    })

    it('sends nothing once B holds the image', async () => {
      const { dir: again, transport } = await staging()
      const rerun = await run(
        `${PREFIX}-again`,
        inspectSource({ engine: engineA, container }),
        backupImage({ engine: engineA, transport, destination: engineB }),
        writeManifest({ transport }),
      )
      expect(rerun.error).toBeUndefined()
      expect(rerun.state?.image).toBeUndefined()
      expect(rerun.state?.manifest?.image).toBeUndefined()
      expect(rerun.state?.artifacts).toEqual([])
      expect(warningsOf(rerun)).toEqual([])
      await expect(stat(join(again, `${PREFIX}-again`, 'image.tar'))).rejects.toThrow(/ENOENT/)
    })
  })

  it('removes the image it loaded when a later stage fails', async () => {
    await removeTestImages(B)
    const { transport } = await staging()
    const id = `${PREFIX}-undo`
    const result = await run(
      id,
      inspectSource({ engine: engineA, container }),
      backupImage({ engine: engineA, transport, destination: engineB }),
      writeManifest({ transport }),
      readManifest({ transport, id, insecure: true }),
      restoreImage({ engine: engineB, transport }),
      defineStage('fail-later', async (state) => {
        // The image is there when the next stage runs.
        expect(await imageOn(B, imageId)).toBeDefined()
        throw new Error(`a later stage fails (${state.id})`)
      }),
      rollbackOnFailure(),
    )
    expect(String(result.error)).toContain('a later stage fails')
    expect(await imageOn(B, imageId)).toBeUndefined()
    for (const tag of TAGS) expect(await imageOn(B, tag), tag).toBeUndefined()
    // The base and its layer, which the thin save left out, are untouched.
    expect(await imageOn(B, BASE)).toBeDefined()
  })

  it('refuses a corrupted image artifact with the sha256 error, and leaves no image on B', async () => {
    await removeTestImages(B)
    const { dir, transport } = await staging()
    const id = `${PREFIX}-corrupt`
    const backup = await run(
      id,
      inspectSource({ engine: engineA, container }),
      backupImage({ engine: engineA, transport }),
      writeManifest({ transport }),
    )
    expect(backup.error).toBeUndefined()
    const imagesBefore = (await B.listImages({ all: true })).map((image) => image.Id).sort()
    // One byte changed in the middle of the file: inside a layer's data, the tar framing intact.
    const file = await open(join(dir, id, 'image.tar'), 'r+')
    try {
      const { size } = await file.stat()
      const byte = Buffer.alloc(1)
      await file.read(byte, 0, 1, Math.floor(size / 2))
      byte[0] = (byte[0] as number) ^ 0xff
      await file.write(byte, 0, 1, Math.floor(size / 2))
    } finally {
      await file.close()
    }
    const restore = await run(
      id,
      readManifest({ transport, id, insecure: true }),
      restoreImage({ engine: engineB, transport }),
    )
    expect(restore.error).toMatchObject({ code: 'INTEGRITY' })
    expect(String((restore.error as Error).message)).toMatch(
      /restore-image failed: artifact .*image\.tar is corrupt: expected \d+ bytes with sha256 [0-9a-f]{64}, received \d+ bytes with sha256 [0-9a-f]{64}/,
    )
    expect(await imageOn(B, imageId)).toBeUndefined()
    expect((await B.listImages({ all: true })).map((image) => image.Id).sort()).toEqual(
      imagesBefore,
    )
  })

  it('says clearly when B no longer holds the layers a thin image left out', async () => {
    await removeTestImages(B)
    const { dir, transport } = await staging()
    const id = `${PREFIX}-gone`
    const backup = await run(
      id,
      inspectSource({ engine: engineA, container }),
      backupImage({ engine: engineA, transport, destination: engineB }),
      writeManifest({ transport }),
    )
    expect(backup.error).toBeUndefined()
    expect(backup.state?.image?.omittedLayers).toEqual([baseLayer])
    // As if B had lost the base since: the manifest names a layer B never had.
    const missing = `sha256:${'0'.repeat(64)}`
    const manifestPath = join(dir, id, 'manifest.json')
    const manifest = parseManifest(await readFile(manifestPath, 'utf8'), manifestPath)
    const edited = { ...manifest, image: { ...manifest.image, omittedLayers: [missing] } }
    await writeFile(manifestPath, JSON.stringify(edited, null, 2))
    const restore = await run(
      id,
      readManifest({ transport, id, insecure: true }),
      restoreImage({ engine: engineB, transport }),
    )
    expect(restore.error).toMatchObject({ code: 'IMAGE_LAYERS_MISSING' })
    expect((restore.error as Error).message).toContain(`no longer holds ${missing}`)
    expect(await imageOn(B, imageId)).toBeUndefined()
  })

  it('with include: false (--no-image), sends nothing and says so', async () => {
    const { transport } = await staging()
    const result = await run(
      `${PREFIX}-noimage`,
      inspectSource({ engine: engineA, container }),
      backupImage({ engine: engineA, transport, include: false }),
      writeManifest({ transport }),
    )
    expect(result.error).toBeUndefined()
    expect(result.state?.image).toBeUndefined()
    expect(result.state?.artifacts).toEqual([])
    expect(warningsOf(result)).toEqual([expect.stringContaining('--no-image')])
  })
})
