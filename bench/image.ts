import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import type { Readable } from 'node:stream'
import { findImage } from '../packages/core/src/engine/images.js'
import {
  connectEngine,
  type EngineClient,
  inspectSource,
  readManifest,
  startMigration,
  TransshipError,
  writeManifest,
} from '../packages/core/src/index.js'
import { backupImage } from '../packages/core/src/stages/image/backupImage.js'
import { loadImage, removeImage, saveImage } from '../packages/core/src/stages/image/images.js'
import { restoreImage } from '../packages/core/src/stages/image/restoreImage.js'
import { createLocalTransport } from '../packages/transport-local/src/index.js'
import type { BenchContext, Benchmark } from './lib/benchmark.js'
import { newRunId } from './lib/engines.js'
import { pipelineResult } from './lib/pipeline.js'
import { binaryBytes, median, printTable, ratio, seconds } from './lib/table.js'

const MiB = 1024 * 1024

/**
 * `pnpm bench image`: what the thin image save saves. An image derived on A from a base
 * that B holds (one more layer of random data) travels A → B through file:// staging, as
 * the `backup-image` and `restore-image` stages do it, three ways: thin (B known: the base
 * layer left out), whole (B not known, a split backup), and as a reference a direct
 * `docker save | docker load` between the engines, without staging. Bytes sent and the
 * stages' times, for busybox + 256 KiB and redis + 100 MiB (issue 4).
 */
export const imageBenchmark: Benchmark = {
  name: 'image',
  description:
    'image A → B (file://): thin save (B holds the base) vs whole save vs docker save | docker load',
  run,
}

interface CaseSpec {
  readonly id: string
  readonly base: string
  /** Bytes of random data in the added layer. */
  readonly added: number
}

interface Mode {
  readonly bytes: number
  readonly saveMs: number[]
  readonly loadMs: number[]
}

interface CaseResult {
  readonly spec: CaseSpec
  readonly layers: number
  readonly thin: Mode
  readonly whole: Mode
  readonly directMs: number[]
}

interface Bench {
  readonly context: BenchContext
  readonly a: EngineClient
  readonly b: EngineClient
  readonly labels: Record<string, string>
  readonly prefix: string
}

async function run(context: BenchContext): Promise<void> {
  const { env, settings, cleanup } = context
  const runId = newRunId()
  const prefix = `transship-bench-${runId}`
  const labels = { 'transship.bench': 'true', 'transship.bench.run': runId }
  const a = await connectEngine(env.TESTENV_HOST_A)
  cleanup.defer('close engine A', () => a.close())
  const b = await connectEngine(env.TESTENV_HOST_B)
  cleanup.defer('close engine B', () => b.close())
  cleanup.defer(`remove ${prefix} images on A`, () => removeRunImages(a, labels))
  cleanup.defer(`remove ${prefix} images on B`, () => removeRunImages(b, labels))
  cleanup.defer(`remove ${prefix} containers on A`, () => removeRunContainers(a, labels))
  const bench: Bench = { context, a, b, labels, prefix }

  const cases: CaseSpec[] = [
    { id: 'busybox', base: env.TESTENV_IMAGE_BUSYBOX, added: scaled(256 * 1024, settings.scale) },
    { id: 'redis', base: env.TESTENV_IMAGE_REDIS, added: scaled(100 * MiB, settings.scale) },
  ]
  const results: CaseResult[] = []
  for (const spec of cases) {
    if (context.signal.aborted) break
    results.push(await measureCase(bench, spec))
  }
  printResults(results, settings.runs)
}

function scaled(bytes: number, scale: number): number {
  return Math.max(1, Math.round(bytes * scale))
}

async function measureCase(bench: Bench, spec: CaseSpec): Promise<CaseResult> {
  const { context, a, b } = bench
  const { log, settings } = context
  const label = `${spec.id} + ${binaryBytes(spec.added)}`
  const image = await deriveImage(bench, spec)
  const inspect = await findImage(a, image)
  const baseOnB = await findImage(b, spec.base)
  if (!baseOnB || baseOnB.Id !== (await findImage(a, spec.base))?.Id) {
    throw new Error(`B must hold ${spec.base} with the same ID as A`)
  }
  if (await findImage(b, image)) throw new Error(`B holds ${image} already`)
  const container = `${bench.prefix}-${spec.id}`
  await a.createContainer({ name: container, Image: image, Labels: bench.labels })
  log(`${label}: image ${image.slice(7, 19)}, ${inspect?.RootFS?.Layers?.length} layers`)

  const thin: Mode = { bytes: 0, saveMs: [], loadMs: [] }
  const whole: Mode = { bytes: 0, saveMs: [], loadMs: [] }
  const directMs: number[] = []
  for (let index = 0; index < settings.runs; index++) {
    for (const [mode, result] of [
      ['thin', thin],
      ['whole', whole],
    ] as const) {
      const measured = await travel(bench, container, image, mode === 'thin')
      Object.assign(result, { bytes: measured.bytes })
      result.saveMs.push(measured.saveMs)
      result.loadMs.push(measured.loadMs)
      log(
        `${label} run ${index + 1}/${settings.runs}: ${mode} ${binaryBytes(measured.bytes)}, ` +
          `save ${seconds(measured.saveMs)} s, load ${seconds(measured.loadMs)} s`,
      )
    }
    const ms = await direct(bench, image)
    directMs.push(ms)
    log(`${label} run ${index + 1}/${settings.runs}: docker save | docker load ${seconds(ms)} s`)
  }
  return { spec, layers: inspect?.RootFS?.Layers?.length ?? 0, thin, whole, directMs }
}

/** Derives an image on A: the base plus a layer holding `added` random bytes. */
async function deriveImage(bench: Bench, spec: CaseSpec): Promise<string> {
  const { a, labels, prefix } = bench
  const name = `${prefix}-build-${spec.id}`
  const id = await a.createContainer({
    name,
    Image: spec.base,
    Cmd: ['sh', '-c', `head -c ${spec.added} /dev/urandom > /payload.bin`],
    Labels: labels,
    NetworkDisabled: true,
  })
  try {
    await a.startContainer(id)
    const { StatusCode } = await a.call(`wait for ${name}`, (docker) =>
      docker.getContainer(id).wait(),
    )
    if (StatusCode !== 0) throw new Error(`${name} exited with ${StatusCode}`)
    const label = Object.entries(labels)
      .map(([key, value]) => `${key}=${value}`)
      .join(' ')
    const committed = await a.call(`commit ${name}`, (docker) =>
      docker.getContainer(id).commit({
        repo: `transship-bench/${spec.id}`,
        tag: prefix,
        changes: [`LABEL ${label}`, 'CMD ["sh"]'],
      }),
    )
    return (committed as { Id: string }).Id
  } finally {
    await a.removeContainer(id)
  }
}

/** One image migration through staging, by the stages; B's copy is removed afterwards. */
async function travel(
  bench: Bench,
  container: string,
  image: string,
  thin: boolean,
): Promise<{ bytes: number; saveMs: number; loadMs: number }> {
  const { a, b } = bench
  const staging = await mkdtemp(join(tmpdir(), 'transship-bench-image-'))
  try {
    const transport = createLocalTransport({ base: staging })
    const id = `${bench.prefix}-${thin ? 'thin' : 'whole'}`
    const backup = await pipelineResult(
      startMigration({ id }).pipe(
        inspectSource({ engine: a, container }),
        backupImage({ engine: a, transport, ...(thin ? { destination: b } : {}) }),
        writeManifest({ transport }),
      ),
    )
    const artifact = backup.state.artifacts.find((candidate) => candidate.kind === 'image')
    if (!artifact) throw new Error('the backup carries no image')
    if (thin !== (backup.state.image?.omittedLayers.length ?? 0) > 0) {
      throw new Error(
        `expected a ${thin ? 'thin' : 'whole'} save: ${JSON.stringify(backup.state.image)}`,
      )
    }
    const restore = await pipelineResult(
      startMigration({ id }).pipe(
        readManifest({ transport, id, insecure: true }),
        restoreImage({ engine: b, transport }),
      ),
    )
    if ((await findImage(b, image))?.Id !== image)
      throw new Error(`B lacks ${image} after the load`)
    return {
      bytes: artifact.size,
      saveMs: backup.stages.get('backup-image') ?? Number.NaN,
      loadMs: restore.stages.get('restore-image') ?? Number.NaN,
    }
  } finally {
    await removeImage(b, image)
    await rm(staging, { recursive: true, force: true })
  }
}

/** The reference: `docker save` on A piped into `docker load` on B, no staging, no check. */
async function direct(bench: Bench, image: string): Promise<number> {
  const { a, b, context } = bench
  const started = performance.now()
  try {
    const save: Readable = await saveImage(a, image, context.signal)
    await loadImage(b, save, { action: 'load image (reference)', signal: context.signal })
    if ((await findImage(b, image))?.Id !== image)
      throw new Error(`B lacks ${image} after the load`)
    return performance.now() - started
  } finally {
    await removeImage(b, image)
  }
}

async function removeRunImages(engine: EngineClient, labels: Record<string, string>) {
  const label = Object.entries(labels).map(([key, value]) => `${key}=${value}`)
  const images = await engine.call('list bench images', (docker) =>
    docker.listImages({ filters: { label } }),
  )
  for (const image of images) await removeImage(engine, image.Id)
}

async function removeRunContainers(engine: EngineClient, labels: Record<string, string>) {
  const label = Object.entries(labels).map(([key, value]) => `${key}=${value}`)
  const containers = await engine.call('list bench containers', (docker) =>
    docker.listContainers({ all: true, filters: { label } }),
  )
  for (const container of containers) {
    await engine.removeContainer(container.Id).catch((error: unknown) => {
      if (!(error instanceof TransshipError && error.code === 'ENGINE_NOT_FOUND')) throw error
    })
  }
}

function printResults(results: readonly CaseResult[], runs: number): void {
  const rows = results.flatMap((result) => {
    const label = `${result.spec.id} + ${binaryBytes(result.spec.added)} (${result.layers} layers)`
    const directMs = median(result.directMs)
    const row = (mode: string, data: Mode): string[] => {
      const total = median(data.saveMs) + median(data.loadMs)
      return [
        label,
        mode,
        binaryBytes(data.bytes),
        String(data.bytes),
        ratio(data.bytes, result.whole.bytes),
        seconds(median(data.saveMs)),
        seconds(median(data.loadMs)),
        seconds(total),
        ratio(total, directMs),
      ]
    }
    return [
      row('thin (B known)', result.thin),
      row('whole (split backup)', result.whole),
      [label, 'docker save | docker load', '', '', '', '', '', seconds(directMs), '1.00'],
    ]
  })
  printTable(
    `image: a derived image A → B via file:// staging, B holding its base; median of ${runs} ` +
      `run${runs === 1 ? '' : 's'}; save = stage backup-image, load = stage restore-image; ` +
      'the reference pipes docker save on A into docker load on B (no staging, no checks)',
    [
      { title: 'image', align: 'left' },
      { title: 'mode', align: 'left' },
      { title: 'sent' },
      { title: 'bytes' },
      { title: 'of whole' },
      { title: 'save s' },
      { title: 'load s' },
      { title: 'total s' },
      { title: 'total/ref' },
    ],
    rows,
  )
}
