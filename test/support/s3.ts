import { randomUUID } from 'node:crypto'
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { testEnv } from './testenv.js'

/** How to reach the test environment's S3 server (s3rver), as S3 client options. */
export interface TestS3 {
  /** `http://127.0.0.1:4569`. */
  readonly endpoint: string
  readonly bucket: string
  readonly region: string
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string }
}

/** The test environment's S3 server, from .testenv/env. */
export function testS3(): TestS3 {
  const env = testEnv()
  return {
    endpoint: env.TESTENV_S3_ENDPOINT,
    bucket: env.TESTENV_S3_BUCKET,
    region: env.TESTENV_S3_REGION,
    credentials: {
      accessKeyId: env.TESTENV_S3_ACCESS_KEY_ID,
      secretAccessKey: env.TESTENV_S3_SECRET_ACCESS_KEY,
    },
  }
}

/**
 * A key prefix of its own for one test (`<what>-<uuid>`), so that tests sharing the bucket
 * never see each other's objects.
 */
export function uniqueS3Prefix(what: string): string {
  return `${what}-${randomUUID()}`
}

/**
 * The environment variables the AWS SDK reads to reach the test S3 server
 * (`AWS_ENDPOINT_URL_S3`, `AWS_ACCESS_KEY_ID`, …), for a child process such as the CLI.
 */
export function testS3Environment(): Record<string, string> {
  const s3 = testS3()
  return {
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_REGION: s3.region,
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
  }
}

/**
 * The objects under an s3:// URL's prefix in the test bucket, read with the S3 API: each
 * one's bytes by its key below the prefix, in the order the bucket lists them.
 *
 * @param url - `s3://<bucket>/<prefix>`.
 */
export async function objectsUnder(url: string): Promise<Map<string, Buffer>> {
  const client = new S3Client({ ...testS3(), forcePathStyle: true })
  const [bucket, ...rest] = url.slice('s3://'.length).split('/')
  const prefix = `${rest.join('/')}/`
  try {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))
    const objects = new Map<string, Buffer>()
    for (const { Key } of listed.Contents ?? []) {
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key }))
      objects.set(
        (Key ?? '').slice(prefix.length),
        Buffer.from((await object.Body?.transformToByteArray()) ?? []),
      )
    }
    return objects
  } finally {
    client.destroy()
  }
}
