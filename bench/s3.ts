import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createS3Transport } from '../packages/transport-s3/src/index.js'
import type { Measured, Transfer } from '../packages/transport-s3/test/bench/transfer.js'
import type { BenchContext, Benchmark } from './lib/benchmark.js'
import { newRunId } from './lib/engines.js'
import { describeLoad, machineLoad } from './lib/machine.js'
import { describeRssMethod, type RssMethod, rssMethod, runProcess, tail } from './lib/process.js'
import {
  binaryBytes,
  type Column,
  mbPerSecond,
  median,
  printTable,
  ratio,
  seconds,
  spread,
} from './lib/table.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const WORKER = join(ROOT, 'packages/transport-s3/test/bench/transfer.ts')
const PART_SIZE = 8 * MiB
const PARALLELISM = 4

/**
 * `pnpm bench s3`: 1 GiB up to the test environment's S3 server (s3rver on loopback) and
 * back down, through the S3 transport and with the SDK alone (lib-storage's `Upload`, a
 * plain `GetObject`), the same bytes with the same part size and parallelism; each
 * transfer in a process of its own, for its peak RSS; and a quarter of the size up through
 * the transport, whose peak RSS should be the same: memory bounded by the part buffers,
 * not by the artifact (issue 7).
 */
export const s3Benchmark: Benchmark = {
  name: 's3',
  description: '1 GiB up and down through the S3 transport vs lib-storage Upload and GetObject',
  run,
}

type Via = Transfer['via']

interface Result {
  readonly ms: number[]
  readonly peakRssKiB: number[]
}

async function run(context: BenchContext): Promise<void> {
  const { env, settings, cleanup, log, signal } = context
  const runId = newRunId()
  const prefix = `transship-bench-${runId}`
  const size = Math.max(1, Math.round(GiB * settings.scale))
  const rss = rssMethod(settings.rss)
  const base: Omit<Transfer, 'action' | 'via' | 'key'> = {
    prefix,
    size,
    seed: runId,
    partSize: PART_SIZE,
    parallelism: PARALLELISM,
  }
  const cleaner = createS3Transport({
    endpoint: env.TESTENV_S3_ENDPOINT,
    region: env.TESTENV_S3_REGION,
    credentials: {
      accessKeyId: env.TESTENV_S3_ACCESS_KEY_ID,
      secretAccessKey: env.TESTENV_S3_SECRET_ACCESS_KEY,
    },
    bucket: env.TESTENV_S3_BUCKET,
    prefix,
  })
  cleanup.defer(`remove ${cleaner.url}`, async () => {
    for (const { key } of await cleaner.list('')) await cleaner.remove(key)
    await cleaner.close?.()
  })
  log(`run ${runId}: ${binaryBytes(size)} to ${env.TESTENV_S3_ENDPOINT}, peak RSS from ${rss}`)

  const transfer = async (action: Transfer['action'], via: Via, key: string, bytes = size) => {
    const measured = await measure(context, { ...base, action, via, key, size: bytes }, rss)
    log(
      `${action} ${via} ${binaryBytes(bytes)}: ${seconds(measured.ms)} s, peak RSS ${measured.peakRssKiB} KiB`,
    )
    return measured
  }
  // A quarter of the size, through the transport: the same peak RSS shows that memory does
  // not grow with the artifact.
  const quarter = Math.max(1, Math.round(size / 4))
  const results = {
    idle: { ms: [], peakRssKiB: [] } as Result,
    put: { transport: empty(), sdk: empty() },
    putQuarter: empty(),
    get: { transport: empty(), sdk: empty() },
  }
  const before = machineLoad()
  for (let index = 0; index < settings.runs; index++) {
    signal.throwIfAborted()
    const idle = await transfer('idle', 'sdk', 'none')
    results.idle.peakRssKiB.push(idle.peakRssKiB)
    // Alternate which goes first, so that neither always meets a warmer server.
    const order: Via[] = index % 2 === 0 ? ['transport', 'sdk'] : ['sdk', 'transport']
    for (const via of order) record(results.put[via], await transfer('put', via, via))
    record(results.putQuarter, await transfer('put', 'transport', 'quarter', quarter))
    // Both read the same object.
    for (const via of order) record(results.get[via], await transfer('get', via, 'sdk'))
    for (const key of ['transport', 'sdk', 'quarter']) await cleaner.remove(key)
  }
  const load = describeLoad(before, machineLoad())
  const idleKiB = median(results.idle.peakRssKiB)
  for (const action of ['put', 'get'] as const) {
    const { transport, sdk } = results[action]
    printTable(
      `${action === 'put' ? 'Upload of' : 'Download of'} ${binaryBytes(size)} ${action === 'put' ? 'to' : 'from'} s3rver on loopback, ${settings.runs} runs (median); ` +
        `${binaryBytes(PART_SIZE)} parts, ${PARALLELISM} at a time; ${action === 'put' ? 'random bytes generated in the process' : 'bytes counted, not kept'}. ` +
        `Peak RSS of the process (${describeRssMethod(rss)}); an idle one (modules and client loaded) peaks at ${binaryBytes(idleKiB * 1024)}.\n${load}`,
      COLUMNS,
      [
        row(
          action === 'put'
            ? 'S3 transport put (sha256 on the way)'
            : 'S3 transport get (resumable stream)',
          transport,
          size,
          sdk,
          idleKiB,
        ),
        row(action === 'put' ? 'lib-storage Upload' : 'GetObject', sdk, size, sdk, idleKiB),
        ...(action === 'put'
          ? [
              row(
                `S3 transport put, ${binaryBytes(quarter)} (memory)`,
                results.putQuarter,
                quarter,
                undefined,
                idleKiB,
              ),
            ]
          : []),
      ],
    )
  }
}

const COLUMNS: readonly Column[] = [
  { title: 'case', align: 'left' },
  { title: 'seconds' },
  { title: 'spread' },
  { title: 'MB/s' },
  { title: 'time ÷ SDK' },
  { title: 'peak RSS' },
  { title: 'RSS over idle' },
]

function row(
  label: string,
  result: Result,
  size: number,
  sdk: Result | undefined,
  idleKiB: number,
): string[] {
  const ms = median(result.ms)
  const peak = median(result.peakRssKiB)
  return [
    label,
    seconds(ms),
    spread(result.ms),
    mbPerSecond(size, ms),
    sdk === undefined ? '' : ratio(ms, median(sdk.ms)),
    binaryBytes(peak * 1024),
    binaryBytes(Math.max(0, peak - idleKiB) * 1024),
  ]
}

function empty(): Result {
  return { ms: [], peakRssKiB: [] }
}

function record(result: Result, measured: { ms: number; peakRssKiB: number }): void {
  result.ms.push(measured.ms)
  result.peakRssKiB.push(measured.peakRssKiB)
}

/** Runs one transfer in a child process: its own time, and the process's peak RSS. */
async function measure(
  context: BenchContext,
  transfer: Transfer,
  rss: RssMethod,
): Promise<{ ms: number; peakRssKiB: number }> {
  const finished = await runProcess(
    process.execPath,
    ['--import', 'tsx', WORKER, JSON.stringify(transfer)],
    { cwd: ROOT, signal: context.signal, peakRss: rss },
  )
  if (finished.code !== 0) {
    throw new Error(
      `${transfer.action} through ${transfer.via} exited with ${finished.code ?? finished.signal}: ${tail(finished.stderr)}`,
    )
  }
  const measured = JSON.parse(finished.stdout.trim().split('\n').at(-1) ?? '') as Measured
  if (transfer.action !== 'idle' && measured.bytes !== transfer.size) {
    throw new Error(
      `${transfer.action} through ${transfer.via} moved ${measured.bytes} bytes, not ${transfer.size}`,
    )
  }
  return { ms: measured.ms, peakRssKiB: finished.peakRssKiB ?? 0 }
}
