import { performance } from 'node:perf_hooks'
import { drainToHash, randomArtifact } from '@transship/core/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type Fault, FaultProxy, type S3Operation } from '../../../test/support/faultProxy.js'
import { testS3 } from '../../../test/support/s3.js'
import { keysUnder, type TestTransportOptions, testTransport } from './support.js'

// Fault tests: the transport talks to the test environment's s3rver through a proxy that
// answers with errors, cuts connections and stalls (`pnpm testenv up`).

const MiB = 1024 * 1024

let proxy: FaultProxy
beforeAll(async () => {
  proxy = await FaultProxy.start(testS3().endpoint)
})
afterEach(() => proxy.reset())
afterAll(() => proxy.close())

/** A transport through the proxy, and one straight to the server to check what it stored. */
function transports(what: string, options: TestTransportOptions = {}) {
  const warnings: string[] = []
  const faulty = testTransport(what, {
    endpoint: proxy.endpoint,
    partSize: 5 * MiB,
    onWarning: (message) => warnings.push(message),
    ...options,
  })
  const direct = testTransport(what, { prefix: faulty.prefix })
  return { faulty, direct, warnings }
}

function inject(operation: S3Operation, fault: Fault, times?: number) {
  proxy.inject({ match: (request) => request.operation === operation, fault, times })
}

const serverErrors: Array<[string, Fault]> = [
  ['503 SlowDown', { kind: 'status', status: 503, code: 'SlowDown' }],
  ['500 InternalError', { kind: 'status', status: 500, code: 'InternalError' }],
  ['429 TooManyRequests', { kind: 'status', status: 429, code: 'TooManyRequests' }],
]

describe('error answers', () => {
  for (const [label, fault] of serverErrors) {
    for (const operation of [
      'PutObject',
      'CreateMultipartUpload',
      'UploadPart',
      'CompleteMultipartUpload',
    ] as const) {
      it(`retries ${operation} answered ${label} twice, and stores the artifact`, async () => {
        const { faulty, direct } = transports('answers')
        const size = operation === 'PutObject' ? 3 * MiB : 11 * MiB
        const artifact = await randomArtifact(size, operation)
        inject(operation, fault, 2)
        await faulty.put('a', artifact.stream(), { size, sha256: artifact.sha256 })

        expect(proxy.requestsOf(operation).filter((r) => r.fault)).toHaveLength(2)
        expect(await drainToHash(await direct.get('a'))).toEqual({ size, sha256: artifact.sha256 })
      })
    }
  }

  it('retries reads, listings and removals answered 503 twice', async () => {
    const { faulty, direct } = transports('reads')
    const artifact = await randomArtifact(1000, 'reads')
    await direct.put('a/b', artifact.stream())
    for (const operation of [
      'GetObject',
      'HeadObject',
      'ListObjectsV2',
      'DeleteObjects',
    ] as const) {
      inject(operation, { kind: 'status', status: 503, code: 'SlowDown' }, 2)
    }
    expect(await drainToHash(await faulty.get('a/b'))).toMatchObject({ sha256: artifact.sha256 })
    expect(await faulty.stat('a/b')).toMatchObject({ size: 1000 })
    expect(await faulty.list('a')).toMatchObject([{ key: 'a/b', size: 1000 }])
    await faulty.remove('a')
    expect(await direct.list('')).toEqual([])
    expect(proxy.requests.filter((r) => r.fault)).toHaveLength(8)
  })

  it('gives up on a part always answered 500: TRANSPORT_IO, upload aborted, nothing stored', async () => {
    const { faulty, warnings } = transports('always-500', { maxAttempts: 3 })
    inject('UploadPart', { kind: 'status', status: 500, code: 'InternalError' })
    const started = performance.now()
    const error = await faulty
      .put('a', (await randomArtifact(11 * MiB, 'always')).stream())
      .catch((reason: unknown) => reason)

    expect(error).toMatchObject({
      code: 'TRANSPORT_IO',
      message: expect.stringMatching(
        /^\[transship\] \[s3\] cannot put "a" at s3:\/\/.*\/a: InternalError: .* \(HTTP 500\)$/,
      ),
      cause: expect.objectContaining({ name: 'InternalError' }),
    })
    expect(performance.now() - started).toBeLessThan(10_000)
    // A part tried 3 times (the other, cut short), then the upload aborted (s3rver: 405, a
    // warning).
    expect(proxy.requestsOf('UploadPart').length).toBeGreaterThanOrEqual(3)
    expect(proxy.requestsOf('CompleteMultipartUpload')).toHaveLength(0)
    expect(proxy.requestsOf('AbortMultipartUpload')).toHaveLength(1)
    expect(warnings).toHaveLength(1)
    expect(await keysUnder(`${faulty.prefix}/`)).toEqual([])
  })

  it('reports a get always answered 503 as TRANSPORT_IO, not as a missing key', async () => {
    const { faulty, direct } = transports('get-503', { maxAttempts: 2 })
    await direct.put('a', (await randomArtifact(10)).stream())
    inject('GetObject', { kind: 'status', status: 503, code: 'SlowDown' })
    await expect(faulty.get('a')).rejects.toMatchObject({
      code: 'TRANSPORT_IO',
      message: expect.stringMatching(/cannot get "a" at .*: SlowDown: .* \(HTTP 503\)$/),
    })
    expect(proxy.requestsOf('GetObject')).toHaveLength(2)
  })
})

describe('dropped connections', () => {
  it('retries parts whose connection is cut while they are sent', async () => {
    const { faulty, direct } = transports('cut-parts')
    const artifact = await randomArtifact(11 * MiB, 'cut-parts')
    inject('UploadPart', { kind: 'drop-request', afterBytes: MiB }, 2)
    await faulty.put('a', artifact.stream())
    expect(proxy.requestsOf('UploadPart').filter((r) => r.fault)).toHaveLength(2)
    expect(await drainToHash(await direct.get('a'))).toMatchObject({ sha256: artifact.sha256 })
  })

  it('retries a PutObject whose connection is cut while it is sent', async () => {
    const { faulty, direct } = transports('cut-put')
    const artifact = await randomArtifact(2 * MiB, 'cut-put')
    inject('PutObject', { kind: 'drop-request', afterBytes: 100_000 }, 1)
    await faulty.put('a', artifact.stream())
    expect(proxy.requestsOf('PutObject')).toHaveLength(2)
    expect(await drainToHash(await direct.get('a'))).toMatchObject({ sha256: artifact.sha256 })
  })

  it('retries a listing whose answer is cut', async () => {
    const { faulty, direct } = transports('cut-list')
    await direct.put('a/b', (await randomArtifact(10)).stream())
    inject('ListObjectsV2', { kind: 'drop-response', afterBytes: 20 }, 1)
    expect(await faulty.list('a')).toMatchObject([{ key: 'a/b', size: 10 }])
    expect(proxy.requestsOf('ListObjectsV2')).toHaveLength(2)
  })

  it('resumes a download cut midway from where it stopped, on the same object', async () => {
    const { faulty, direct } = transports('cut-get')
    const artifact = await randomArtifact(6 * MiB + 7, 'cut-get')
    await direct.put('a', artifact.stream())
    inject('GetObject', { kind: 'drop-response', afterBytes: 2 * MiB }, 2)

    expect(await drainToHash(await faulty.get('a'))).toEqual({
      size: artifact.size,
      sha256: artifact.sha256,
    })
    const gets = proxy.requestsOf('GetObject')
    expect(gets).toHaveLength(3)
    expect(gets[0]?.headers.range).toBeUndefined()
    const [, second, third] = gets.map((r) => /^bytes=(\d+)-$/.exec(r.headers.range ?? '')?.[1])
    expect(Number(second)).toBeGreaterThan(0)
    expect(Number(third)).toBeGreaterThan(Number(second))
    expect(new Set(gets.slice(1).map((r) => r.headers['if-match']))).toEqual(
      new Set([expect.stringMatching(/^"\w+"$/)]),
    )
  })

  it('keeps resuming a download that is cut every 1 MiB, as long as it progresses', async () => {
    const { faulty, direct } = transports('cut-often', { maxAttempts: 2 })
    const artifact = await randomArtifact(5 * MiB, 'cut-often')
    await direct.put('a', artifact.stream())
    inject('GetObject', { kind: 'drop-response', afterBytes: MiB })
    expect(await drainToHash(await faulty.get('a'))).toMatchObject({ sha256: artifact.sha256 })
    expect(proxy.requestsOf('GetObject').length).toBeGreaterThanOrEqual(5)
  })

  it('fails a download that makes no progress with TRANSPORT_IO, after its attempts', async () => {
    const { faulty, direct } = transports('cut-always', { maxAttempts: 3 })
    await direct.put('a', (await randomArtifact(MiB, 'cut-always')).stream())
    inject('GetObject', { kind: 'drop-response', afterBytes: 0 })
    const stream = await faulty.get('a')
    await expect(drainToHash(stream)).rejects.toMatchObject({
      code: 'TRANSPORT_IO',
      message: expect.stringMatching(/^\[transship\] \[s3\] cannot read "a" at s3:\/\/.*\/a: /),
    })
    expect(proxy.requestsOf('GetObject')).toHaveLength(3)
  })

  it('fails promptly with TRANSPORT_IO when nothing listens at the endpoint', async () => {
    const closed = await FaultProxy.start(testS3().endpoint)
    await closed.close()
    const transport = testTransport('refused', { endpoint: closed.endpoint, maxAttempts: 2 })
    const started = performance.now()
    await expect(transport.put('a', (await randomArtifact(10)).stream())).rejects.toMatchObject({
      code: 'TRANSPORT_IO',
      message: expect.stringMatching(/ECONNREFUSED/),
    })
    expect(performance.now() - started).toBeLessThan(5_000)
  })
})

describe('slow and stalled answers', () => {
  it('works when every answer takes 200 ms', async () => {
    const { faulty } = transports('slow')
    proxy.inject({ fault: { kind: 'delay', ms: 200 } })
    const artifact = await randomArtifact(11 * MiB, 'slow')
    await faulty.put('a/b', artifact.stream(), { sha256: artifact.sha256 })
    expect(await drainToHash(await faulty.get('a/b'))).toMatchObject({ sha256: artifact.sha256 })
    expect(await faulty.list('a')).toMatchObject([{ key: 'a/b', size: artifact.size }])
    await faulty.remove('a')
    expect(await faulty.list('')).toEqual([])
  })

  it('retries a part whose answer never comes, once the connection is idle too long', async () => {
    const { faulty, direct } = transports('stalled-part', { idleTimeout: 1000 })
    inject('UploadPart', { kind: 'hold', until: new Promise(() => {}) }, 1)
    const artifact = await randomArtifact(11 * MiB, 'stalled-part')
    await faulty.put('a', artifact.stream())
    expect(proxy.requestsOf('UploadPart')).toHaveLength(4)
    expect(await drainToHash(await direct.get('a'))).toMatchObject({ sha256: artifact.sha256 })
  })

  it('resumes a download that stalls midway, once the connection is idle too long', async () => {
    const { faulty, direct } = transports('stalled-get', { idleTimeout: 1000 })
    const artifact = await randomArtifact(4 * MiB, 'stalled-get')
    await direct.put('a', artifact.stream())
    inject('GetObject', { kind: 'stall-response', afterBytes: MiB }, 1)
    const started = performance.now()
    expect(await drainToHash(await faulty.get('a'))).toMatchObject({ sha256: artifact.sha256 })
    expect(performance.now() - started).toBeLessThan(10_000)
    expect(proxy.requestsOf('GetObject')).toHaveLength(2)
  })

  it('resumes a download read only after its connection went idle too long', async () => {
    const { faulty, direct } = transports('idle-get', { idleTimeout: 500 })
    // Larger than what the sockets on the way buffer: the transfer stops, and times out.
    const artifact = await randomArtifact(48 * MiB, 'idle-get')
    await direct.put('a', artifact.stream())
    const stream = await faulty.get('a')
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(await drainToHash(stream)).toMatchObject({ sha256: artifact.sha256 })
    expect(proxy.requestsOf('GetObject')).toHaveLength(2)
  })

  it('gives up on a listing whose answer never comes: TRANSPORT_IO, bounded in time', async () => {
    const { faulty } = transports('stalled-list', { idleTimeout: 500, maxAttempts: 2 })
    inject('ListObjectsV2', { kind: 'hold', until: new Promise(() => {}) })
    const started = performance.now()
    await expect(faulty.list('a')).rejects.toMatchObject({
      code: 'TRANSPORT_IO',
      message: expect.stringMatching(/timed out/),
    })
    expect(performance.now() - started).toBeLessThan(5_000)
    expect(proxy.requestsOf('ListObjectsV2')).toHaveLength(2)
  })
})
