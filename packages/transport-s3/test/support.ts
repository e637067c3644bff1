import { randomUUID } from 'node:crypto'
import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { afterEach } from 'vitest'
import { testS3 } from '../../../test/support/s3.js'
import { createS3Transport, type S3Transport, type S3TransportOptions } from '../src/index.js'

/** What a test may set on top of the test server's endpoint, bucket and credentials. */
export type TestTransportOptions = Partial<Extract<S3TransportOptions, { client?: undefined }>>

const made: S3Transport[] = []
afterEach(async () => {
  for (const transport of made.splice(0)) {
    await transport.close?.()
    await removeAllUnder(`${transport.prefix}/`)
  }
})

/**
 * A transport on the test S3 server under a prefix of its own (`<what>-<uuid>`), with the
 * test credentials; `options` may set another endpoint (the fault proxy) and anything else.
 * Closed, and everything under its prefix removed, after the test (unless `keep`).
 */
export function testTransport(
  what: string,
  options: TestTransportOptions = {},
  { keep = false } = {},
): S3Transport {
  const s3 = testS3()
  const transport = createS3Transport({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: s3.credentials,
    bucket: s3.bucket,
    prefix: `${what}-${randomUUID()}`,
    onWarning: () => {},
    ...options,
  })
  if (!keep) made.push(transport)
  return transport
}

/** A plain client of the test S3 server, to look at the bucket behind the transport's back. */
export function plainClient(endpoint = testS3().endpoint): S3Client {
  const s3 = testS3()
  return new S3Client({
    endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: s3.credentials,
  })
}

/** Every object key under `prefix` in the test bucket, through a plain client. */
export async function keysUnder(prefix: string): Promise<string[]> {
  const client = plainClient()
  try {
    const keys: string[] = []
    let token: string | undefined
    do {
      const page = await client.send(
        new ListObjectsV2Command({
          Bucket: testS3().bucket,
          Prefix: prefix,
          ContinuationToken: token,
        }),
      )
      keys.push(...(page.Contents ?? []).map((object) => object.Key ?? ''))
      token = page.NextContinuationToken
    } while (token)
    return keys
  } finally {
    client.destroy()
  }
}

/** Removes every object under `prefix` in the test bucket, through a plain client. */
export async function removeAllUnder(prefix: string): Promise<void> {
  const keys = await keysUnder(prefix)
  const client = plainClient()
  try {
    for (let start = 0; start < keys.length; start += 1000) {
      await client.send(
        new DeleteObjectsCommand({
          Bucket: testS3().bucket,
          Delete: { Objects: keys.slice(start, start + 1000).map((Key) => ({ Key })) },
        }),
      )
    }
  } finally {
    client.destroy()
  }
}
