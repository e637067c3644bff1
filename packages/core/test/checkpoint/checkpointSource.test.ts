import type Dockerode from 'dockerode'
import { lastValueFrom, toArray } from 'rxjs'
import { describe, expect, it } from 'vitest'
import type { EngineClient, EngineInfo } from '../../src/engine/client.js'
import { TransshipError } from '../../src/errors.js'
import type { SourceContainer } from '../../src/manifest/schema.js'
import { rollbackOnFailure } from '../../src/pipeline/rollbackOnFailure.js'
import { defineStage } from '../../src/pipeline/stage.js'
import { startMigration } from '../../src/pipeline/startMigration.js'
import type { MigrationState } from '../../src/pipeline/state.js'
import { checkpointSource } from '../../src/stages/checkpoint/checkpointSource.js'

// The refusals and the bookkeeping, on engines that only record what is asked of them;
// the checkpoint itself is tested against the real engines (test/e2e/checkpoint.test.ts).

const ON_FAILURE = { Name: 'on-failure', MaximumRetryCount: 3 }

function sourceOf(overrides: Partial<SourceContainer> = {}): SourceContainer {
  return {
    engine: { url: 'unix:///a.sock', id: 'A', name: 'a', serverVersion: '20.10.24' },
    id: 'f'.repeat(64),
    name: 'web',
    image: 'app:1',
    imageId: `sha256:${'e'.repeat(64)}`,
    running: true,
    restartPolicy: ON_FAILURE,
    config: {},
    hostConfig: {},
    networks: [],
    ...overrides,
  }
}

interface FakeEngine {
  readonly engine: EngineClient
  /** The changing calls made, in order. */
  readonly changes: string[]
}

/** An engine that answers inspect, info and version, and records every other call. */
function fakeEngine(
  url: string,
  options: {
    experimental?: boolean
    hostConfig?: Record<string, unknown>
    paused?: boolean
    running?: boolean
    version?: string
  } = {},
): FakeEngine {
  const changes: string[] = []
  let running = options.running ?? true
  const container = {
    update: async (body: unknown) => void changes.push(`update ${JSON.stringify(body)}`),
    start: async () => {
      running = true
      changes.push('start')
    },
    listCheckpoint: async () => Buffer.from('null'),
  }
  const engine = {
    url,
    info: async (): Promise<EngineInfo> =>
      ({
        ID: url,
        Name: url,
        ServerVersion: '20.10.24',
        Driver: 'overlay2',
        DockerRootDir: '/var/lib/docker',
        ExperimentalBuild: options.experimental ?? true,
      }) as EngineInfo,
    version: async () => ({
      Version: options.version ?? '20.10.24',
      ApiVersion: '1.41',
      KernelVersion: '6.18',
    }),
    inspectContainer: async () =>
      ({
        State: { Running: running, Paused: options.paused ?? false },
        HostConfig: { ...options.hostConfig },
      }) as unknown as Dockerode.ContainerInspectInfo,
    call: async <T>(_action: string, run: (docker: Dockerode) => Promise<T>) =>
      run({ getContainer: () => container } as unknown as Dockerode),
    createCheckpoint: async (_id: string, name: string) => {
      running = false
      changes.push(`checkpoint ${name}`)
    },
    startContainer: async () => {
      running = true
      changes.push('start')
    },
  }
  return { engine: engine as unknown as EngineClient, changes }
}

/** Runs inspect (faked) and the checkpoint stage, then `after`, with rollback. */
async function run(
  source: SourceContainer,
  stage: ReturnType<typeof checkpointSource>,
  after = defineStage('next', async (state) => state),
): Promise<{ state?: MigrationState; error?: TransshipError }> {
  const inspected = defineStage('inspect', async (state) => ({ ...state, id: 'web-1', source }))
  try {
    const events = await lastValueFrom(
      startMigration().pipe(inspected, stage, after, rollbackOnFailure(), toArray()),
    )
    const last = events.findLast((event) => event.type === 'state')
    return last?.type === 'state' ? { state: last.state } : {}
  } catch (error) {
    return { error: error as TransshipError }
  }
}

const fail = defineStage('later', async () => {
  throw new TransshipError('LATER', 'a later stage failed')
})

describe('checkpointSource', () => {
  it('refuses before anything changes when the engine is not in experimental mode', async () => {
    const a = fakeEngine('unix:///a.sock', { experimental: false })
    const { error } = await run(sourceOf(), checkpointSource({ engine: a.engine }))
    expect(error?.code).toBe('CHECKPOINT_UNAVAILABLE')
    expect(error?.message).toContain('engine unix:///a.sock is not in experimental mode')
    expect(error?.message).toContain('transship doctor')
    expect(error?.message).toContain('--no-checkpoint')
    expect(a.changes).toEqual([])
  })

  it('refuses when the destination is not in experimental mode, naming it', async () => {
    const a = fakeEngine('unix:///a.sock')
    const b = fakeEngine('unix:///b.sock', { experimental: false })
    const { error } = await run(
      sourceOf(),
      checkpointSource({ engine: a.engine, destination: b.engine }),
    )
    expect(error?.code).toBe('CHECKPOINT_UNAVAILABLE')
    expect(error?.message).toContain('engine unix:///b.sock is not in experimental mode')
    expect(a.changes).toEqual([])
  })

  it('refuses a destination whose Docker version cannot restore this container, explaining why', async () => {
    const a = fakeEngine('unix:///a.sock')
    const b = fakeEngine('unix:///b.sock', { version: '28.5.2' })
    const { error } = await run(
      sourceOf(),
      checkpointSource({ engine: a.engine, destination: b.engine }),
    )
    expect(error?.code).toBe('CHECKPOINT_UNSUPPORTED')
    expect(error?.message).toContain('the destination unix:///b.sock runs Docker 28.5.2')
    expect(error?.message).toContain('moby#50750')
    expect(error?.message).toContain('--no-checkpoint')
    expect(a.changes).toEqual([])
  })

  it('lets a container on the host’s network go to Docker 28.5, whose defect spares it', async () => {
    const a = fakeEngine('unix:///a.sock', { hostConfig: { NetworkMode: 'host' } })
    const b = fakeEngine('unix:///b.sock', { version: '28.5.2' })
    const { error } = await run(
      sourceOf(),
      checkpointSource({ engine: a.engine, destination: b.engine }),
    )
    expect(error).toBeUndefined()
    expect(a.changes).toContain('checkpoint transship-web-1')
  })

  it.each([
    ['started with --rm', { hostConfig: { AutoRemove: true } }, /--rm/],
    [
      'paused',
      { paused: true },
      /it is paused; unpause it first, or migrate it with --no-checkpoint/,
    ],
    [
      'sharing a namespace',
      { hostConfig: { PidMode: 'container:sidecar' } },
      /shares the PID namespace of container sidecar.*--no-checkpoint/,
    ],
  ])('refuses a container %s before anything changes', async (_case, options, message) => {
    const a = fakeEngine('unix:///a.sock', options)
    const { error } = await run(sourceOf(), checkpointSource({ engine: a.engine }))
    expect(error?.code).toBe('CHECKPOINT_UNSUPPORTED')
    expect(error?.message).toMatch(message)
    expect(error?.message).toContain('Nothing was changed')
    expect(a.changes).toEqual([])
  })

  it('sets restart policy no, checkpoints with exit and records the freeze', async () => {
    const a = fakeEngine('unix:///a.sock')
    const before = Date.now()
    const { state } = await run(sourceOf(), checkpointSource({ engine: a.engine }))
    expect(a.changes).toEqual([
      'update {"RestartPolicy":{"Name":"no"}}',
      'checkpoint transship-web-1',
    ])
    expect(state?.checkpoint).toMatchObject({
      name: 'transship-web-1',
      artifact: 'checkpoint.tar',
      engine: { serverVersion: '20.10.24', apiVersion: '1.41', kernelVersion: '6.18' },
    })
    expect(Date.parse(state?.checkpoint?.frozenAt ?? '')).toBeGreaterThanOrEqual(before - 1)
  })

  it('on a later failure, starts the source again with its restart policy (plainly, and says so, without a checkpoint)', async () => {
    const a = fakeEngine('unix:///a.sock')
    const { error } = await run(sourceOf(), checkpointSource({ engine: a.engine }), fail)
    expect(a.changes).toEqual([
      'update {"RestartPolicy":{"Name":"no"}}',
      'checkpoint transship-web-1',
      `update {"RestartPolicy":${JSON.stringify(ON_FAILURE)}}`,
      'start',
    ])
    // This engine lists no checkpoint: the source ran again, but afresh, and the error says so.
    expect(error?.message).toMatch(
      /Could NOT undo: .*runs again on unix:\/\/\/a.sock, but started afresh/,
    )
  })

  it('only sets restart policy no on a source that is not running, and puts it back', async () => {
    const a = fakeEngine('unix:///a.sock', { running: false })
    const { error } = await run(
      sourceOf({ running: false }),
      checkpointSource({ engine: a.engine }),
      fail,
    )
    expect(error?.code).toBe('LATER')
    expect(a.changes).toEqual([
      'update {"RestartPolicy":{"Name":"no"}}',
      `update {"RestartPolicy":${JSON.stringify(ON_FAILURE)}}`,
    ])
  })
})
