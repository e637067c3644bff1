import { randomBytes } from 'node:crypto'
import { connectEngine, type EngineClient, type MigrationEvent, migrate } from '@transship/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeLabelled } from '../../../test/support/cleanup.js'
import { createIdleContainer } from '../../../test/support/containers.js'
import { dockerAt, TEST_LABEL } from '../../../test/support/docker.js'
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
