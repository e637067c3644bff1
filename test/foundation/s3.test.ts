import { randomBytes } from 'node:crypto'
import {
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3'
import { describe, expect, it } from 'vitest'
import { testEnv } from '../support/testenv.js'

const env = testEnv()

describe('the S3 server', () => {
  const s3 = new S3Client({
    endpoint: env.TESTENV_S3_ENDPOINT,
    region: env.TESTENV_S3_REGION,
    forcePathStyle: true,
    credentials: {
      accessKeyId: env.TESTENV_S3_ACCESS_KEY_ID,
      secretAccessKey: env.TESTENV_S3_SECRET_ACCESS_KEY,
    },
  })

  it('puts and gets an object in the bucket', async () => {
    const Key = `foundation/${process.pid}.bin`
    const body = randomBytes(64 * 1024)
    await s3.send(new PutObjectCommand({ Bucket: env.TESTENV_S3_BUCKET, Key, Body: body }))
    const got = await s3.send(new GetObjectCommand({ Bucket: env.TESTENV_S3_BUCKET, Key }))
    const back = Buffer.from((await got.Body?.transformToByteArray()) ?? [])
    await s3.send(new DeleteObjectCommand({ Bucket: env.TESTENV_S3_BUCKET, Key }))
    expect(back.equals(body)).toBe(true)
  })
})
