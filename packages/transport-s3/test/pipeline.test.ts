import { randomBytes } from 'node:crypto'
import { connectEngine, type EngineClient, type MigrationEvent, migrate } from '@transship/core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { removeLabelled } from '../../../test/support/cleanup.js'
import { createIdleContainer } from '../../../test/support/containers.js'
import { dockerAt, execIn, TEST_LABEL } from '../../../test/support/docker.js'
import { FaultProxy } from '../../../test/support/faultProxy.js'
import { testS3 } from '../../../test/support/s3.js'
import { testEnv } from '../../../test/support/testenv.js'
import { expectEveryKindOfContent, fillVolumes } from '../../../test/support/volumeContent.js'
import { listVolume } from '../../../test/support/volumeListing.js'
import { keysUnder, testTransport } from './support.js'

// The core's migration pipeline with the S3 transport, engine A → engine B through the test
// environment's s3rver (`pnpm testenv up`). The CLI's `--via s3://` is tested end to end in
// test/e2e.

const env = testEnv()
const A = dockerAt(env.TESTENV_HOST_A)
const B = dockerAt(env.TESTENV_HOST_B)
const IMAGE = env.TESTENV_IMAGE_BUSYBOX
const LABELS = { ...TEST_LABEL, 'transship.test.file': 'transport-s3/pipeline' }
const PREFIX = `s3-pipeline-${randomBytes(3).toString('hex')}`
const LARGE_MIB = 20

let source: EngineClient
let destination: EngineClient
let proxy: FaultProxy
beforeAll(async () => {
  source = await connectEngine(env.TESTENV_HOST_A)
  destination = await connectEngine(env.TESTENV_HOST_B)
  proxy = await FaultProxy.start(testS3().endpoint)
})
afterEach(() => proxy.reset())
afterAll(async () => {
  await Promise.all([removeLabelled(A, LABELS), removeLabelled(B, LABELS)])
  await source?.close()
  await destination?.close()
  await proxy?.close()
})

describe('migrate A → B through S3', () => {
  it('moves a container and its volume, content and all, through a part answered 503 and a cut download', async () => {
    const volume = `${PREFIX}-data`
    await A.createVolume({ Name: volume, Labels: LABELS })
    await fillVolumes(A, IMAGE, [{ name: volume, largeMiB: LARGE_MIB }])
    const container = await createIdleContainer(A, {
      name: PREFIX,
      image: IMAGE,
      labels: LABELS,
      binds: [`${volume}:/data`],
    })
    await container.start()
    const before = await listVolume(A, IMAGE, volume)
    expectEveryKindOfContent(before, LARGE_MIB)

    // 8 MiB parts, 2 at a time: the volume's archive goes up in several parts.
    const transport = testTransport('pipeline', { endpoint: proxy.endpoint, parallelism: 2 })
    proxy.inject({
      match: (request) => request.operation === 'UploadPart',
      fault: { kind: 'status', status: 503, code: 'SlowDown' },
      times: 1,
    })
    proxy.inject({
      match: (request) => request.operation === 'GetObject' && request.key.includes('/volumes/'),
      fault: { kind: 'drop-response', afterBytes: 3 * 1024 * 1024 },
      times: 1,
    })
    const events = await new Promise<MigrationEvent[]>((resolve, reject) => {
      const all: MigrationEvent[] = []
      migrate({ source, destination, container: PREFIX, transport, checkpoint: false }).subscribe({
        next: (event) => all.push(event),
        error: reject,
        complete: () => resolve(all),
      })
    })
    const stored = events.filter(
      (event): event is Extract<MigrationEvent, { type: 'stage-finished' }> =>
        event.type === 'stage-finished',
    )
    // The volume goes into the bucket while the source runs, its changes after the stop.
    expect(stored.map((event) => event.stage)).toEqual(
      expect.arrayContaining(['precopy-volumes', 'sync-volumes']),
    )

    expect((await B.getContainer(PREFIX).inspect()).State.Running).toBe(true)
    expect(await listVolume(B, IMAGE, volume)).toEqual(before)
    expect(await keysUnder(`${transport.prefix}/`)).toEqual([])
    expect(proxy.requestsOf('UploadPart').length).toBeGreaterThanOrEqual(4)
    expect(proxy.requests.filter((request) => request.fault)).toHaveLength(2)
    expect(proxy.requestsOf('GetObject').some((request) => request.headers.range)).toBe(true)
  })
})

/** Runs a migration to its end: its error. */
function failureOf(run: ReturnType<typeof migrate>): Promise<unknown> {
  return new Promise((resolve, reject) =>
    run.subscribe({ error: resolve, complete: () => reject(new Error('it succeeded')) }),
  )
}

describe('S3 failing for good after the freeze', () => {
  it.each([
    [
      'answering 500 to every upload of the checkpoint',
      { kind: 'status', status: 500, code: 'InternalError' },
    ],
    ['cutting every upload of the checkpoint', { kind: 'drop-request', afterBytes: 64 * 1024 }],
  ] as const)(
    '%s: the migration fails, the source runs on from its checkpoint, nothing is left in the bucket or on B',
    async (what, fault) => {
      const name = `${PREFIX}-${what.split(' ')[0]}`
      await A.createVolume({ Name: name, Labels: LABELS })
      const container = await A.createContainer({
        name,
        Image: IMAGE,
        // Counts in its memory, into its volume: a start afresh would count from 1 again.
        Cmd: [
          'sh',
          '-c',
          'i=0; while :; do i=$((i+1)); echo $i >> /data/count; usleep 20000; done',
        ],
        Labels: LABELS,
        HostConfig: { Binds: [`${name}:/data`] },
      })
      await container.start()
      const transport = testTransport(`failing-${name}`, { endpoint: proxy.endpoint })
      proxy.inject({
        match: (request) =>
          ['PutObject', 'UploadPart', 'CreateMultipartUpload'].includes(request.operation) &&
          request.key.includes('checkpoint'),
        fault,
      })
      const error = await failureOf(migrate({ source, destination, container: name, transport }))
      expect(String(error)).toMatch(/backup-checkpoint failed: .*Undone: .*start .* again/)
      const lines = (await execIn(container, ['cat', '/data/count'])).stdout.trim().split('\n')
      expect(lines.map(Number)).toEqual(lines.map((_, index) => index + 1))
      expect((await container.inspect()).State.Running).toBe(true)
      expect(await B.listContainers({ all: true, filters: { name: [`^/${name}$`] } })).toEqual([])
      expect(await keysUnder(`${transport.prefix}/`)).toEqual([])
    },
  )
})
