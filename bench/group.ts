import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { dockerCompose, projectMove } from '../test/support/compose.js'
import { dockerAt } from '../test/support/docker.js'
import type { BenchContext, Benchmark } from './lib/benchmark.js'
import { docker } from './lib/docker.js'
import { newRunId } from './lib/engines.js'
import { describeLoad, machineLoad } from './lib/machine.js'
import { mustRun } from './lib/process.js'
import { fillRedisMemory, redisKeptMemory } from './lib/redis.js'
import { median, printTable, ratio, seconds, spread } from './lib/table.js'

/**
 * `pnpm bench group`: the compose project of the group tests (redis holding keys only in
 * memory, an app and a worker sharing a volume of 256 MiB) moved A → B, its downtime read
 * from the engines' events (the first `die` at A to the last `start` at B) for both
 * methods: `transship migrate --project` (one freeze window, a checkpoint each) against
 * what a user does by hand with docker-compose and the seed's shell copy: `docker-compose
 * stop` at A, tar the volume out through a helper container, `docker-compose up
 * --no-start` at B, untar it in, `docker-compose start` (cold: redis loses its keys).
 */
export const groupBenchmark: Benchmark = {
  name: 'group',
  description:
    'a compose project (redis in memory, app and worker sharing 256 MiB) A → B: project downtime of migrate --project vs docker-compose stop, copy, start',
  run,
}

type Method = 'transship --project' | 'compose stop, copy, start'

interface Timing {
  readonly downtimeMs: number
  readonly totalMs: number
  readonly memoryKept: boolean
}

interface Bench {
  readonly context: BenchContext
  readonly project: string
  readonly port: string
  readonly keys: number
  readonly staging: string
}

async function run(context: BenchContext): Promise<void> {
  const { env, settings, cleanup, log } = context
  const project = `benchshop${newRunId().replace(/[^a-z0-9]/g, '')}`
  const port = String(20_000 + Math.floor(Math.random() * 10_000))
  const staging = await mkdtemp(join(tmpdir(), 'transship-bench-group-'))
  cleanup.defer(`remove ${staging}`, () => rm(staging, { recursive: true, force: true }))
  for (const host of [env.TESTENV_HOST_A, env.TESTENV_HOST_B]) {
    cleanup.defer(`remove project ${project} on ${host}`, async () => {
      await dockerCompose(host, project, ['down', '-v', '--timeout', '1']).catch(() => '')
    })
  }
  const volumeMiB = Math.max(1, Math.round(256 * settings.scale))
  const keys = Math.max(1, Math.round(64 * settings.scale))
  const bench: Bench = { context, project, port, keys, staging }
  log(`project ${project}: up on A, ${volumeMiB} MiB into its shared volume`)
  await compose(bench, env.TESTENV_HOST_A, ['up', '-d'])
  await docker(context, env.TESTENV_HOST_A, [
    'exec',
    `${project}_app_1`,
    'dd',
    'if=/dev/urandom',
    'of=/shared/blob',
    'bs=1048576',
    `count=${volumeMiB}`,
  ])

  const methods: readonly Method[] = ['transship --project', 'compose stop, copy, start']
  const timings = new Map<Method, Timing[]>(methods.map((method) => [method, []]))
  const loadBefore = machineLoad()
  for (let index = 0; index < settings.runs; index++) {
    // Interleaved, so that load that drifts during the run skews both alike.
    for (const method of methods) {
      context.signal.throwIfAborted()
      await fillRedisMemory(context, env.TESTENV_HOST_A, `${project}_redis_1`, keys)
      const timing = await measure(bench, method)
      timings.get(method)?.push(timing)
      log(
        `run ${index + 1}/${settings.runs} ${method}: downtime ${seconds(timing.downtimeMs)} s, total ${seconds(timing.totalMs)} s, memory ${timing.memoryKept ? 'kept' : 'lost'}`,
      )
      // Back to A, running (redis empty again), B empty, for the next case.
      await compose(bench, env.TESTENV_HOST_B, ['down', '-v', '--timeout', '1'])
      await compose(bench, env.TESTENV_HOST_A, ['up', '-d'])
    }
  }
  const reference = median(
    (timings.get('compose stop, copy, start') ?? []).map((t) => t.downtimeMs),
  )
  printTable(
    `compose project (3 services, ${volumeMiB} MiB shared volume, ${keys} MiB in redis) A → B, ${settings.runs} run(s), medians`,
    [
      { title: 'method', align: 'left' },
      { title: 'project downtime s' },
      { title: 'spread' },
      { title: 'vs compose' },
      { title: 'total s' },
      { title: 'redis memory', align: 'left' },
    ],
    methods.map((method) => {
      const runs = timings.get(method) ?? []
      const downtime = runs.map((t) => t.downtimeMs)
      return [
        method,
        seconds(median(downtime)),
        spread(downtime),
        ratio(median(downtime), reference),
        seconds(median(runs.map((t) => t.totalMs))),
        runs.every((t) => t.memoryKept) ? 'kept' : 'lost',
      ]
    }),
    [
      'project downtime: from the first `die` event at A to the last `start` event at B (engine clocks, one machine)',
      describeLoad(loadBefore, machineLoad()),
    ],
  )
}

async function measure(bench: Bench, method: Method): Promise<Timing> {
  const { context, project, keys } = bench
  const { env } = context
  const started = Date.now()
  const clock = performance.now()
  if (method === 'transship --project') {
    await mustRun(
      'pnpm',
      [
        '--silent',
        'transship',
        'migrate',
        '--project',
        project,
        '--from',
        env.TESTENV_HOST_A,
        '--to',
        env.TESTENV_HOST_B,
      ],
      { signal: context.signal },
    )
  } else {
    await byHand(bench)
  }
  const totalMs = performance.now() - clock
  const ended = Date.now()
  const move = await projectMove(
    dockerAt(env.TESTENV_HOST_A),
    dockerAt(env.TESTENV_HOST_B),
    project,
    started,
    ended,
  )
  return {
    downtimeMs: (move.lastStarted - move.firstDied) / 1e6,
    totalMs,
    memoryKept: await redisKeptMemory(context, env.TESTENV_HOST_B, `${project}_redis_1`, keys),
  }
}

/** The seed's way, for a project: stop it, tar its volume out, make it at B, untar, start. */
async function byHand(bench: Bench): Promise<void> {
  const { context, project, staging } = bench
  const { env } = context
  await compose(bench, env.TESTENV_HOST_A, ['stop', '--timeout', '10'])
  const tar = (command: string) => [
    'run',
    '--rm',
    '--network',
    'none',
    '-v',
    `${project}_shared:/shared`,
    '-v',
    `${staging}:/backup`,
    env.TESTENV_IMAGE_BUSYBOX,
    'sh',
    '-c',
    command,
  ]
  await docker(context, env.TESTENV_HOST_A, tar('tar cf /backup/shared.tar -C /shared .'))
  await compose(bench, env.TESTENV_HOST_B, ['up', '--no-start'])
  await docker(context, env.TESTENV_HOST_B, tar('tar xf /backup/shared.tar -C /shared'))
  await compose(bench, env.TESTENV_HOST_B, ['start'])
}

function compose(bench: Bench, host: string, args: readonly string[]): Promise<string> {
  return dockerCompose(host, bench.project, args, { SHOP_WORKER_PORT: bench.port })
}
