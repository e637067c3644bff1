import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { randomStream } from '../packages/core/src/testing/index.js'
import type { ScpTransportOptions } from '../packages/transport-scp/src/index.js'
import type { Measured, Transfer } from '../packages/transport-scp/test/bench/transfer.js'
import type { BenchContext, Benchmark } from './lib/benchmark.js'
import { newRunId } from './lib/engines.js'
import { describeLoad, machineLoad } from './lib/machine.js'
import {
  describeRssMethod,
  mustRun,
  type RssMethod,
  rssMethod,
  runProcess,
  tail,
} from './lib/process.js'
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

const GiB = 1024 ** 3
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const WORKER = join(ROOT, 'packages/transport-scp/test/bench/transfer.ts')

/**
 * `pnpm bench scp`: 1 GiB up to host B's sshd and back down, through the SCP transport
 * (pipelined SFTP; and commands over exec, on the sshd without SFTP) and with OpenSSH's
 * `scp` with its default settings, the same file to the same server, each transfer a
 * process of its own (issue 6: at least 1.2× scp's throughput). Every way runs in two
 * places, each holding both ends' files (B's sshd runs on this machine): see {@link PLACES}.
 */
export const scpBenchmark: Benchmark = {
  name: 'scp',
  description: "1 GiB up and down through the SCP transport vs OpenSSH's scp (default settings)",
  run,
}

/**
 * OpenSSH's scp, or the transport: `auto` (its defaults, called as the core calls it), the
 * same given the expected sha256 to check (put), or without fsync (put), SFTP only, or on
 * the sshd without SFTP.
 */
type Via = 'scp' | 'auto' | 'verify' | 'nofsync' | 'sftp' | 'exec'

const TMPFS = '/dev/shm'

/** A file system both ends' files are on, and the ways measured there. */
interface Place {
  readonly name: string
  /** Where the local and the remote (B's staging) directories are made. */
  readonly root: string
  /** What the place shows, for the tables' titles. */
  readonly shows: string
  readonly puts: readonly Via[]
  readonly gets: readonly Via[]
}

/**
 * The transfer itself is measured on tmpfs. On this VM, writing 1 GiB into ext4's page
 * cache took anywhere from 0.23 to 2.6 s (it depends on what the memory balloon took back
 * and when), against a steady 0.7 s on tmpfs: a cost both sides pay, which there drowns
 * the difference between them. The disk shows what a real disk adds, fsync above all
 * (a no-op on tmpfs).
 */
const PLACES: readonly Place[] = [
  {
    name: 'tmpfs',
    root: TMPFS,
    shows: 'both ends on tmpfs: the transfer itself',
    puts: ['scp', 'auto', 'verify', 'sftp', 'exec'],
    gets: ['scp', 'auto', 'sftp', 'exec'],
  },
  {
    name: 'disk',
    root: tmpdir(),
    shows: 'both ends on the disk (ext4): the transfer, the page cache and fsync',
    puts: ['scp', 'auto', 'nofsync'],
    gets: ['scp', 'auto'],
  },
]

/** What each way measured, per place and direction. */
type Results = Map<string, Result>

interface Result {
  readonly ms: number[]
  readonly peakRssKiB: number[]
}

async function run(context: BenchContext): Promise<void> {
  const { env, settings, cleanup, log, signal } = context
  const runId = newRunId()
  const size = Math.max(1, Math.round(GiB * settings.scale))
  const rss = rssMethod(settings.rss)
  const ssh = ['-F', env.TESTENV_SSH_CONFIG, '-o', 'BatchMode=yes']
  const onB = async (command: string, until: AbortSignal | undefined = signal) => {
    await mustRun('ssh', [...ssh, env.TESTENV_SSH_ALIAS, command], { signal: until })
  }

  const directories = async (place: Place) => {
    const local = await mkdtemp(join(place.root, 'transship-bench-scp-'))
    cleanup.defer(`remove ${local}`, () => rm(local, { recursive: true, force: true }))
    const remote = join(place.root, `transship-bench-scp-${runId}`)
    await onB(`mkdir -m 700 ${remote}`)
    cleanup.defer(`remove ${remote} on B`, () => onB(`rm -rf ${remote}`, undefined))
    return { local, remote }
  }
  const places = await Promise.all(
    PLACES.map(async (place) => ({ ...place, ...(await directories(place)) })),
  )

  // One source for every place, on tmpfs: an upload reads it from memory either way.
  const sources = await mkdtemp(join(TMPFS, 'transship-bench-scp-source-'))
  cleanup.defer(`remove ${sources}`, () => rm(sources, { recursive: true, force: true }))
  const source = join(sources, 'source.bin')
  log(`run ${runId}: writing ${binaryBytes(size)} of random bytes to ${source}`)
  const hash = createHash('sha256')
  const bytes = randomStream(size, runId)
  bytes.on('data', (chunk: Buffer) => hash.update(chunk))
  await pipeline(bytes, createWriteStream(source), { signal })
  const sha256 = hash.digest('hex')
  // What every download reads, in each place, put there once, untimed.
  for (const place of places) {
    const target = `${env.TESTENV_SSH_ALIAS}:${place.remote}/${DOWNLOAD}`
    await mustRun('scp', ['-q', ...ssh, source, target], { signal })
  }

  const transportOptions = (via: Exclude<Via, 'scp'>, remote: string): ScpTransportOptions => ({
    host: env.TESTENV_SSH_HOST,
    port: Number(via === 'exec' ? env.TESTENV_SSH_NOSFTP_PORT : env.TESTENV_SSH_PORT),
    ...(via === 'sftp' ? { protocol: 'sftp' as const } : {}),
    ...(via === 'nofsync' ? { fsync: false } : {}),
    username: env.TESTENV_SSH_USER,
    identityFiles: [env.TESTENV_SSH_KEY],
    knownHostsPath: env.TESTENV_SSH_KNOWN_HOSTS,
    agent: false,
    path: remote,
  })
  const alias = (via: Via) =>
    via === 'exec' ? env.TESTENV_SSH_NOSFTP_ALIAS : env.TESTENV_SSH_ALIAS

  // Each transfer writes a new file and removes it once measured, untimed: the next one
  // then takes the memory it held (see the warm-up below), and tmpfs holds at most one.
  const transfer = async (
    action: 'put' | 'get',
    via: Via,
    place: { local: string; remote: string },
  ): Promise<Measured & { peakRssKiB: number }> => {
    const key = action === 'put' ? `${via}.bin` : DOWNLOAD
    const file = action === 'put' ? source : join(place.local, `${via}.down`)
    const remote = `${place.remote}/${key}`
    await settleDisk(signal)
    try {
      if (via === 'scp') {
        const far = `${alias(via)}:${remote}`
        const [from, to] = action === 'put' ? [file, far] : [far, file]
        const done = await mustRun('scp', ['-q', ...ssh, from, to], { signal, peakRss: rss })
        return { ms: done.ms, bytes: size, peakRssKiB: done.peakRssKiB ?? 0 }
      }
      const expected = via === 'verify' ? { expected: { size, sha256 } } : {}
      const options = transportOptions(via, place.remote)
      return await measure(context, { action, options, key, file, size, ...expected }, rss)
    } finally {
      if (action === 'put') await onB(`rm -f ${remote}`)
      else await rm(file, { force: true })
    }
  }

  const results: Results = new Map()
  const record = (key: string, measured: { ms: number; peakRssKiB: number }) => {
    const result = results.get(key) ?? empty()
    result.ms.push(measured.ms)
    result.peakRssKiB.push(measured.peakRssKiB)
    results.set(key, result)
  }
  const before = machineLoad()
  // Run 0 is a warm-up, not counted. This machine's memory balloon hands the memory the
  // guest frees back to the host, and whoever touches it next pays (here, the first 1 GiB
  // written after a pause took 1.7 s instead of 0.25 s). After the warm-up, each timed
  // transfer takes the memory the transfer before it just freed.
  for (let index = 0; index <= settings.runs; index++) {
    const counted = index > 0
    const label = counted ? '' : ' (warm-up, not counted)'
    for (const place of places) {
      for (const [action, ways] of [
        ['put', place.puts],
        ['get', place.gets],
      ] as const) {
        for (const via of shuffled(ways)) {
          signal.throwIfAborted()
          const measured = await transfer(action, via, place)
          if (counted) record(`${place.name} ${action} ${via}`, measured)
          log(`${place.name}: ${action} ${via}: ${seconds(measured.ms)} s${label}`)
        }
      }
    }
  }
  const load = describeLoad(before, machineLoad())

  for (const place of places) {
    for (const action of ['put', 'get'] as const) {
      const of = (via: Via) => results.get(`${place.name} ${action} ${via}`) ?? empty()
      const scp = of('scp')
      const upload = action === 'put'
      printTable(
        `${upload ? 'Upload of' : 'Download of'} ${binaryBytes(size)} ${upload ? 'to' : 'from'} host B's sshd (loopback between network namespaces), ${place.shows} (${place.root}). ` +
          `${settings.runs} runs (median) after a warm-up run, each a process of its own: connect, authenticate, transfer, close. ` +
          `The transport ${upload ? 'is called as the core calls it (no expected sha256: the core hashes the stream itself) unless said otherwise, and fsyncs before the rename; the file is read in 1 MiB chunks' : 'checks the size; the file is written with 1 MiB buffered'}; ` +
          `scp is OpenSSH's with default settings. Peak RSS: ${describeRssMethod(rss)}.\n${load}`,
        COLUMNS,
        (upload ? place.puts : place.gets).map((via) =>
          row(LABELS[via](action), of(via), size, scp),
        ),
      )
    }
  }
}

/**
 * The ways in a new random order each run. What ran just before a transfer shifts its time
 * (of two 1 GiB downloads back to back, whichever ran second was the slower, by 0.4 to 2 s),
 * so no way may always follow the same one, as it would in a fixed or alternating order.
 */
function shuffled(ways: readonly Via[]): Via[] {
  const order = [...ways]
  for (let last = order.length - 1; last > 0; last--) {
    const other = Math.floor(Math.random() * (last + 1))
    ;[order[last], order[other]] = [order[other] as Via, order[last] as Via]
  }
  return order
}

/** The file every download reads, in each place. */
const DOWNLOAD = 'download.bin'

const LABELS: Record<Via, (action: 'put' | 'get') => string> = {
  scp: () => 'OpenSSH scp (default settings)',
  auto: (action) => `SCP transport ${action} (default: SFTP, then cat)`,
  verify: () => 'SCP transport put, checking an expected sha256',
  nofsync: () => 'SCP transport put, without fsync (fsync: false)',
  sftp: (action) => `SCP transport ${action}, SFTP only`,
  exec: (action) => `SCP transport ${action}, sshd without SFTP (commands only)`,
}

const COLUMNS: readonly Column[] = [
  { title: 'case', align: 'left' },
  { title: 'seconds' },
  { title: 'spread' },
  { title: 'MB/s' },
  { title: 'throughput × scp' },
  { title: 'peak RSS' },
]

function row(label: string, result: Result, size: number, scp: Result): string[] {
  const ms = median(result.ms)
  return [
    label,
    seconds(ms),
    spread(result.ms),
    mbPerSecond(size, ms),
    ratio(median(scp.ms), ms),
    binaryBytes(median(result.peakRssKiB) * 1024),
  ]
}

function empty(): Result {
  return { ms: [], peakRssKiB: [] }
}

/**
 * Writes back what earlier transfers left dirty (B's staging path is on this machine's
 * disk), untimed, so that no transfer pays for the one before it.
 */
async function settleDisk(signal: AbortSignal): Promise<void> {
  await mustRun('sync', [], { signal })
}

/** Runs one transfer through the transport in a child process: its time and peak RSS. */
async function measure(
  context: BenchContext,
  transfer: Transfer,
  rss: RssMethod,
): Promise<Measured & { peakRssKiB: number }> {
  const finished = await runProcess(
    process.execPath,
    ['--import', 'tsx', WORKER, JSON.stringify(transfer)],
    { cwd: ROOT, signal: context.signal, peakRss: rss },
  )
  if (finished.code !== 0) {
    throw new Error(
      `${transfer.action} over ${transfer.options.port} exited with ${finished.code ?? finished.signal}: ${tail(finished.stderr)}`,
    )
  }
  const measured = JSON.parse(finished.stdout.trim().split('\n').at(-1) ?? '') as Measured
  if (measured.bytes !== transfer.size) {
    throw new Error(`${transfer.action} moved ${measured.bytes} bytes, not ${transfer.size}`)
  }
  return { ...measured, peakRssKiB: finished.peakRssKiB ?? 0 }
}
