import { Readable } from 'node:stream'
import { setTimeout as delay } from 'node:timers/promises'
import { drainToHash, randomArtifact, randomStream } from '@transship/core/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FaultProxy, type ProxiedRequest } from '../../../test/support/faultProxy.js'
import { testS3 } from '../../../test/support/s3.js'
import { keysUnder, type TestTransportOptions, testTransport } from './support.js'

// Integration tests against the test environment's S3 server, through a proxy that records
// (and here and there holds back) what the transport sends: `pnpm testenv up`.

const MiB = 1024 * 1024

let proxy: FaultProxy
beforeAll(async () => {
  proxy = await FaultProxy.start(testS3().endpoint)
})
afterEach(() => proxy.reset())
afterAll(() => proxy.close())

function proxied(what: string, options: TestTransportOptions = {}) {
  const warnings: string[] = []
  const transport = testTransport(what, {
    endpoint: proxy.endpoint,
    partSize: 5 * MiB,
    onWarning: (message) => warnings.push(message),
    ...options,
  })
  return { transport, warnings }
}

/** A random stream, and how many of its bytes were taken from it so far. */
function countingStream(size: number, seed: string) {
  const counted = { taken: 0, stream: new Readable() }
  async function* chunks() {
    for await (const chunk of randomStream(size, seed)) {
      counted.taken += (chunk as Buffer).length
      yield chunk as Buffer
    }
  }
  counted.stream = Readable.from(chunks(), { objectMode: false })
  return counted
}

/** A random stream that comes in 1 MiB chunks, 10 ms apart: parts go while it is read. */
function slowStream(size: number, seed: string): Readable {
  async function* chunks() {
    const source = randomStream(size, seed)
    let pending: Buffer[] = []
    let length = 0
    for await (const chunk of source) {
      pending.push(chunk as Buffer)
      length += (chunk as Buffer).length
      if (length >= MiB) {
        yield Buffer.concat(pending)
        pending = []
        length = 0
        await delay(10)
      }
    }
    if (length > 0) yield Buffer.concat(pending)
  }
  return Readable.from(chunks(), { objectMode: false })
}

const partSizes = (requests: ProxiedRequest[]) =>
  requests.map((request) => Number(request.headers['content-length']))

describe('multipart uploads', () => {
  it('sends a body longer than a part as parts, and completes it once it is read', async () => {
    const { transport } = proxied('parts')
    const artifact = await randomArtifact(12 * MiB + 5, 'parts')
    expect(await transport.put('a', artifact.stream())).toMatchObject({
      key: 'a',
      size: 12 * MiB + 5,
    })

    expect(proxy.requestsOf('CreateMultipartUpload')).toHaveLength(1)
    expect(partSizes(proxy.requestsOf('UploadPart'))).toEqual([5 * MiB, 5 * MiB, 2 * MiB + 5])
    expect(proxy.requestsOf('CompleteMultipartUpload')).toHaveLength(1)
    expect(proxy.requestsOf('PutObject')).toHaveLength(0)
    expect(await drainToHash(await transport.get('a'))).toEqual({
      size: artifact.size,
      sha256: artifact.sha256,
    })
  })

  it('sends a body within one part as a single PutObject with its sha256', async () => {
    const { transport } = proxied('single')
    const artifact = await randomArtifact(5 * MiB, 'single')
    await transport.put('a', artifact.stream())
    const [put] = proxy.requestsOf('PutObject')
    expect(proxy.requests.map((request) => request.operation)).toEqual(['PutObject'])
    expect(put?.headers['x-amz-checksum-sha256']).toBe(
      Buffer.from(artifact.sha256, 'hex').toString('base64'),
    )
  })

  it('sizes parts from a size hint, so that a large artifact fits in 10,000 parts', async () => {
    const { transport } = proxied('hint')
    const artifact = await randomArtifact(13 * MiB, 'hint')
    // As if the artifact were about 60 GiB: 9,000 parts of 7 MiB.
    await transport.put('a', artifact.stream(), undefined, { sizeHint: 9_000 * 7 * MiB - 1 })
    expect(partSizes(proxy.requestsOf('UploadPart'))).toEqual([7 * MiB, 6 * MiB])
  })

  it('refuses a multipart body whose sha256 does not match: never completed, nothing shown', async () => {
    const { transport, warnings } = proxied('mismatch')
    await expect(
      transport.put('a', slowStream(12 * MiB, 'mismatch'), {
        size: 12 * MiB,
        sha256: '0'.repeat(64),
      }),
    ).rejects.toMatchObject({
      code: 'TRANSPORT_INTEGRITY',
      message: expect.stringMatching(/refusing to store "a" at s3:\/\/.*\/a: it has sha256 /),
    })

    // Parts went while the body was read, but not the last one: the hash is known once it
    // is read, and it is never sent.
    expect(partSizes(proxy.requestsOf('UploadPart'))).toEqual([5 * MiB, 5 * MiB])
    expect(proxy.requestsOf('CompleteMultipartUpload')).toHaveLength(0)
    expect(proxy.requestsOf('AbortMultipartUpload')).toHaveLength(1)
    expect(await transport.stat('a')).toBeUndefined()
    expect(await keysUnder(`${transport.prefix}/`)).toEqual([])
    // s3rver does not implement AbortMultipartUpload: a warning, not a failure.
    expect(warnings).toEqual([
      expect.stringMatching(
        /could not abort the multipart upload \w+ of s3:\/\/.*\/a after a failed put: MethodNotAllowed: .* \(HTTP 405\)\. The server does not implement AbortMultipartUpload/,
      ),
    ])
  })

  it('refuses a body longer than its expected size as soon as it goes past it', async () => {
    const { transport } = proxied('too-long')
    const body = countingStream(40 * MiB, 'too-long')
    await expect(transport.put('a', body.stream, { size: 6 * MiB })).rejects.toMatchObject({
      code: 'TRANSPORT_INTEGRITY',
      message: expect.stringMatching(/more than the expected 6291456 bytes/),
    })
    expect(body.taken).toBeLessThan(8 * MiB)
    expect(proxy.requestsOf('CompleteMultipartUpload')).toHaveLength(0)
    expect(await transport.stat('a')).toBeUndefined()
  })

  it('aborts the multipart upload of a put aborted midway, and stores nothing', async () => {
    const { transport, warnings } = proxied('aborted')
    const abort = new AbortController()
    const body = countingStream(64 * MiB, 'aborted')
    const putting = transport.put('a', body.stream, undefined, { signal: abort.signal })
    await expect.poll(() => proxy.requestsOf('UploadPart').length).toBeGreaterThan(0)
    abort.abort()
    await expect(putting).rejects.toMatchObject({ code: 'TRANSPORT_IO' })
    expect(proxy.requestsOf('AbortMultipartUpload')).toHaveLength(1)
    expect(proxy.requestsOf('CompleteMultipartUpload')).toHaveLength(0)
    expect(warnings).toHaveLength(1)
    expect(await keysUnder(`${transport.prefix}/`)).toEqual([])
  })
})

describe('memory', () => {
  it('reads no further ahead than partSize × parallelism while parts are held up', async () => {
    let release = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    proxy.inject({
      match: (r) => r.operation === 'UploadPart',
      fault: { kind: 'hold', until: held },
    })
    const { transport } = proxied('held', { parallelism: 3 })
    const artifact = await randomArtifact(64 * MiB, 'held')
    const body = countingStream(artifact.size, 'held')
    const putting = transport.put('a', body.stream)

    await expect.poll(() => proxy.requestsOf('UploadPart').length).toBe(3)
    await delay(300)
    // 3 parts of 5 MiB, the chunk waiting for a part, and the few chunks (64 KiB) that the
    // streams in between read ahead.
    expect(body.taken).toBeLessThanOrEqual(3 * 5 * MiB + 4 * 64 * 1024)
    expect(proxy.requestsOf('UploadPart')).toHaveLength(3)
    release()
    await putting
    expect(await drainToHash(await transport.get('a'))).toEqual({
      size: artifact.size,
      sha256: artifact.sha256,
    })
  })
})

describe('object options', () => {
  const objectHeaders = (request: ProxiedRequest | undefined) => ({
    sse: request?.headers['x-amz-server-side-encryption'],
    kmsKey: request?.headers['x-amz-server-side-encryption-aws-kms-key-id'],
    storageClass: request?.headers['x-amz-storage-class'],
  })

  for (const [what, options, expected] of [
    [
      'SSE-S3',
      { serverSideEncryption: 'AES256', storageClass: 'STANDARD_IA' },
      { sse: 'AES256', kmsKey: undefined, storageClass: 'STANDARD_IA' },
    ],
    [
      'SSE-KMS with a key id',
      { kmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/test' },
      {
        sse: 'aws:kms',
        kmsKey: 'arn:aws:kms:us-east-1:111122223333:key/test',
        storageClass: undefined,
      },
    ],
  ] as const) {
    it(`sends ${what} and the storage class with PutObject and CreateMultipartUpload`, async () => {
      const { transport } = proxied('sse', options)
      await transport.put('small', randomStream(1000))
      await transport.put('large', randomStream(6 * MiB))
      expect(objectHeaders(proxy.requestsOf('PutObject')[0])).toEqual(expected)
      expect(objectHeaders(proxy.requestsOf('CreateMultipartUpload')[0])).toEqual(expected)
      expect(proxy.requestsOf('UploadPart').map(objectHeaders)).toEqual([
        { sse: undefined, kmsKey: undefined, storageClass: undefined },
        { sse: undefined, kmsKey: undefined, storageClass: undefined },
      ])
    })
  }

  it('sends none of them by default', async () => {
    const { transport } = proxied('plain')
    await transport.put('small', randomStream(1000))
    expect(objectHeaders(proxy.requestsOf('PutObject')[0])).toEqual({
      sse: undefined,
      kmsKey: undefined,
      storageClass: undefined,
    })
  })
})
