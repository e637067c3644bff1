import { createHash, randomBytes } from 'node:crypto'
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
 * process of its own (issue 6: at least 1.2× scp's throughput).
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

interface Result {
  readonly ms: number[]
  readonly peakRssKiB: number[]
}

async function run(context: BenchContext): Promise<void> {
  const { env, settings, cleanup, log, signal } = context
  const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`
  const size = Math.max(1, Math.round(GiB * settings.scale))
  const rss = rssMethod(settings.rss)
  const ssh = ['-F', env.TESTENV_SSH_CONFIG, '-o', 'BatchMode=yes']

  const local = await mkdtemp(join(tmpdir(), 'transship-bench-scp-'))
  cleanup.defer(`remove ${local}`, () => rm(local, { recursive: true, force: true }))
  const remote = `/tmp/transship-bench-scp-${runId}`
  await mustRun('ssh', [...ssh, env.TESTENV_SSH_ALIAS, `mkdir -m 700 ${remote}`], { signal })
  cleanup.defer(`remove ${remote} on B`, async () => {
    await mustRun('ssh', [...ssh, env.TESTENV_SSH_ALIAS, `rm -rf ${remote}`])
  })

  const source = join(local, 'source.bin')
  log(`run ${runId}: writing ${binaryBytes(size)} of random bytes to ${source}`)
  const hash = createHash('sha256')
  const bytes = randomStream(size, runId)
  bytes.on('data', (chunk: Buffer) => hash.update(chunk))
  await pipeline(bytes, createWriteStream(source), { signal })
  const sha256 = hash.digest('hex')

  const options = (via: Exclude<Via, 'scp'>): ScpTransportOptions => ({
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

  const put = async (via: Via): Promise<Measured & { peakRssKiB: number }> => {
    const key = `${via}.bin`
    // Each way writes a new file, untimed: replacing last run's 1 GiB file would add the
    // time the file system takes to free it (half a second on ext4 here), to scp's open or
    // to the transport's rename. The memory that file held is then the memory this one
    // takes (see `warm-up` below).
    await mustRun('ssh', [...ssh, env.TESTENV_SSH_ALIAS, `rm -f ${remote}/${key}`], { signal })
    await settleDisk(signal)
    if (via === 'scp') {
      const done = await mustRun('scp', ['-q', ...ssh, source, `${alias(via)}:${remote}/${key}`], {
        signal,
        peakRss: rss,
      })
      return { ms: done.ms, bytes: size, peakRssKiB: done.peakRssKiB ?? 0 }
    }
    const transfer: Transfer = {
      action: 'put',
      options: options(via),
      key,
      file: source,
      size,
      ...(via === 'verify' ? { expected: { size, sha256 } } : {}),
    }
    return measure(context, transfer, rss)
  }
  const get = async (via: Via): Promise<Measured & { peakRssKiB: number }> => {
    // Every way reads the same file: the one scp put there. Like a put, each way removes
    // the file it wrote in the run before, untimed, and writes a new one.
    const file = join(local, `${via}.down`)
    await rm(file, { force: true })
    await settleDisk(signal)
    if (via === 'scp') {
      const done = await mustRun('scp', ['-q', ...ssh, `${alias(via)}:${remote}/scp.bin`, file], {
        signal,
        peakRss: rss,
      })
      return { ms: done.ms, bytes: size, peakRssKiB: done.peakRssKiB ?? 0 }
    }
    const transfer: Transfer = {
      action: 'get',
      options: options(via),
      key: 'scp.bin',
      file,
      size,
    }
    return measure(context, transfer, rss)
  }

  const results = {
    put: ways(),
    get: ways(),
  }
  const before = machineLoad()
  // Run 0 is a warm-up, not counted. This machine's memory balloon hands the memory the
  // guest frees back to the host, and whoever touches it next pays (here, the first 1 GiB
  // written after a pause took 1.7 s instead of 0.25 s). The warm-up writes every file the
  // timed runs then replace, so each timed transfer takes memory its own way just freed,
  // rather than the first transfer after the uploads (or in run 1) paying for everyone.
  for (let index = 0; index <= settings.runs; index++) {
    const counted = index > 0
    const label = counted ? '' : ' (warm-up, not counted)'
    // Alternate the order, so that no way always meets a warmer (or busier) machine.
    const all: Via[] = ['scp', 'auto', 'verify', 'nofsync', 'sftp', 'exec']
    const order = index % 2 === 1 ? all : [...all].reverse()
    for (const via of order) {
      signal.throwIfAborted()
      const measured = await put(via)
      if (counted) record(results.put[via], measured)
      log(`put ${via}: ${seconds(measured.ms)} s${label}`)
    }
    // The variants that differ in what a put does only.
    for (const via of order.filter((way) => way !== 'nofsync' && way !== 'verify')) {
      signal.throwIfAborted()
      const measured = await get(via)
      if (counted) record(results.get[via], measured)
      log(`get ${via}: ${seconds(measured.ms)} s${label}`)
    }
  }
  const load = describeLoad(before, machineLoad())

  for (const action of ['put', 'get'] as const) {
    const { scp, auto, verify, nofsync, sftp, exec } = results[action]
    printTable(
      `${action === 'put' ? 'Upload of' : 'Download of'} ${binaryBytes(size)} ${action === 'put' ? 'to' : 'from'} host B's sshd (loopback between network namespaces), ` +
        `${settings.runs} runs (median) after a warm-up run, each a process of its own: connect, authenticate, transfer, close. ` +
        `The transport ${action === 'put' ? 'is called as the core calls it (no expected sha256: the core hashes the stream itself) unless said otherwise, and fsyncs before the rename; the file is read in 1 MiB chunks' : 'checks the size; the file is written with 1 MiB buffered'}; ` +
        `scp is OpenSSH's with default settings. Peak RSS: ${describeRssMethod(rss)}.\n${load}`,
      COLUMNS,
      [
        row(`OpenSSH scp (default settings)`, scp, size, scp),
        row(`SCP transport ${action} (default: SFTP, then cat from 64 MiB)`, auto, size, scp),
        ...(action === 'put'
          ? [
              row('SCP transport put, checking an expected sha256', verify, size, scp),
              row('SCP transport put, without fsync (fsync: false)', nofsync, size, scp),
            ]
          : []),
        row(`SCP transport ${action}, SFTP only`, sftp, size, scp),
        row(`SCP transport ${action}, sshd without SFTP (commands only)`, exec, size, scp),
      ],
    )
  }
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

function ways(): Record<Via, Result> {
  return {
    scp: empty(),
    auto: empty(),
    verify: empty(),
    nofsync: empty(),
    sftp: empty(),
    exec: empty(),
  }
}

function record(result: Result, measured: { ms: number; peakRssKiB: number }): void {
  result.ms.push(measured.ms)
  result.peakRssKiB.push(measured.peakRssKiB)
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
