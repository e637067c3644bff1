import { randomUUID } from 'node:crypto'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { randomStream } from '@transship/core/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FaultProxy } from '../../../test/support/faultProxy.js'
import { testS3 } from '../../../test/support/s3.js'
import { keysUnder, plainClient, removeAllUnder, testTransport } from './support.js'

// Against the test environment's S3 server, through a proxy that counts requests
// (`pnpm testenv up`).

let proxy: FaultProxy
beforeAll(async () => {
  proxy = await FaultProxy.start(testS3().endpoint)
})
afterEach(() => proxy.reset())
afterAll(() => proxy.close())

/** Puts empty objects under `prefix` straight into the bucket, 32 at a time. */
async function putEmpty(prefix: string, names: readonly string[]): Promise<void> {
  const client = plainClient()
  try {
    for (let start = 0; start < names.length; start += 32) {
      await Promise.all(
        names.slice(start, start + 32).map((name) =>
          client.send(
            new PutObjectCommand({
              Bucket: testS3().bucket,
              Key: `${prefix}/${name}`,
              Body: Buffer.alloc(0),
            }),
          ),
        ),
      )
    }
  } finally {
    client.destroy()
  }
}

describe('more than one page of objects', () => {
  // Kept from one test to the next; removed after the last.
  const transport = () =>
    testTransport('pages', { endpoint: proxy.endpoint, prefix }, { keep: true })
  const prefix = `pages-${randomUUID()}`
  const names = Array.from({ length: 1_050 }, (_, index) => `k${String(index).padStart(4, '0')}`)
  beforeAll(async () => {
    await putEmpty(`${prefix}/many`, names)
  }, 300_000)
  afterAll(() => removeAllUnder(`${prefix}/`))

  it('are listed whole, following continuation tokens', async () => {
    const listed = await transport().list('many')
    expect(listed.map((stat) => stat.key)).toEqual(names.map((name) => `many/${name}`))
    expect(listed.every((stat) => stat.size === 0 && stat.modified instanceof Date)).toBe(true)
    expect(proxy.requestsOf('ListObjectsV2')).toHaveLength(2)
  })

  it('are refused, not listed partly, when the server lists them out of S3 order', async () => {
    // s3rver walks directories: many/a/x comes before many/a-b/x, and its continuation
    // tokens then skip or repeat keys.
    await putEmpty(`${prefix}/many`, ['a/x', 'a-b/x'])
    const t = transport()
    for (const call of [() => t.list('many'), () => t.remove('many')]) {
      await expect(call()).rejects.toMatchObject({
        code: 'TRANSPORT_IO',
        message: expect.stringMatching(
          /refusing a partial listing of s3:\/\/.*\/many\/: .* out of S3 order/,
        ),
      })
    }
    expect(proxy.requestsOf('DeleteObjects')).toHaveLength(0)
    await removeAllUnder(`${prefix}/many/a`)
  })

  it('are removed in batches of 1,000', async () => {
    await transport().remove('many')
    // s3rver sometimes answers 500 to a batch (its parallel deletes race to prune
    // directories): those are retried.
    expect(proxy.requestsOf('DeleteObjects').filter((r) => r.status === 200)).toHaveLength(2)
    expect(await keysUnder(`${prefix}/`)).toEqual([])
  })
})

describe('objects that are not artifacts', () => {
  it('are left out of listings, and removed with their prefix', async () => {
    const t = testTransport('foreign')
    await t.put('dir/file', randomStream(3))
    // A console's folder marker, and a key the transport would refuse.
    await putEmpty(t.prefix, ['dir/', 'back\\slash'])

    expect(await t.list('')).toMatchObject([{ key: 'dir/file', size: 3 }])
    await t.remove('dir')
    expect(await keysUnder(`${t.prefix}/`)).toEqual([`${t.prefix}/back\\slash`])
  })
})

describe('a transport at the bucket root', () => {
  it('stores keys as they are', async () => {
    const t = testTransport('root', { prefix: '' })
    const top = `root-${randomUUID()}`
    await t.put(`${top}/a`, randomStream(5))
    expect(t.url).toBe(`s3://${testS3().bucket}`)
    expect(await keysUnder(`${top}/`)).toEqual([`${top}/a`])
    expect(await t.list(top)).toMatchObject([{ key: `${top}/a`, size: 5 }])
    await t.remove(top)
    expect(await keysUnder(`${top}/`)).toEqual([])
  })
})

describe('a missing bucket', () => {
  it('fails puts, gets and listings with TRANSPORT_IO naming it', async () => {
    const bucket = `missing-${randomUUID()}`
    const t = testTransport('missing', { bucket })
    for (const [call, action] of [
      [() => t.put('a', randomStream(3)), 'put'],
      [() => t.get('a'), 'get'],
      [() => t.list('a'), 'list'],
    ] as const) {
      await expect(call()).rejects.toMatchObject({
        code: 'TRANSPORT_IO',
        message: expect.stringMatching(
          new RegExp(`cannot ${action} "a" at s3://${bucket}/.*NoSuchBucket: .*\\(HTTP 404\\)$`),
        ),
      })
    }
  })
})
