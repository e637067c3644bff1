import { S3Client } from '@aws-sdk/client-s3'
import { TransshipError } from '@transship/core'
import { describe, expect, it } from 'vitest'
import {
  createS3Transport,
  DRIVER_NAME,
  parseS3Url,
  type S3TransportOptions,
  s3TransportFromUrl,
  s3Url,
} from '../src/index.js'

describe('s3TransportFromUrl', () => {
  for (const [url, bucket, prefix, normalised] of [
    ['s3://bucket', 'bucket', '', 's3://bucket'],
    ['s3://bucket/', 'bucket', '', 's3://bucket'],
    ['s3://bucket/staging', 'bucket', 'staging', 's3://bucket/staging'],
    ['s3://bucket/a/b/', 'bucket', 'a/b', 's3://bucket/a/b'],
    ['s3://my.bucket-1/with%20space/%23x', 'my.bucket-1', 'with space/#x', undefined],
  ] as const) {
    it(`takes ${url} as bucket ${bucket}, prefix ${JSON.stringify(prefix)}`, async () => {
      const transport = s3TransportFromUrl(url, { endpoint: 'http://127.0.0.1:1' })
      expect(transport).toMatchObject({ name: DRIVER_NAME, bucket, prefix })
      expect(transport.url).toBe(normalised ?? url)
      expect(parseS3Url(transport.url)).toEqual({ bucket, prefix })
      await transport.close?.()
    })
  }

  for (const [url, why] of [
    ['file:///srv/staging', /expected an s3:\/\/ URL/],
    ['s3:bucket/prefix', /expected an s3:\/\/ URL/],
    ['s3:///prefix', /no bucket/],
    ['s3://AKIA:secret@bucket/prefix', /credentials do not belong in the URL/],
    ['s3://bucket:9000/prefix', /takes no port/],
    ['s3://bucket/prefix?region=x', /query or fragment/],
    ['s3://bucket/prefix#x', /query or fragment/],
    ['s3://bucket/a//b', /without '\.', '\.\.' or empty segments/],
    ['s3://bucket/a/%2E%2E%2Fb', /without '\.', '\.\.' or empty segments/],
  ] as const) {
    it(`refuses ${url}, naming it`, () => {
      const error = catchError(() => s3TransportFromUrl(url))
      expect(error).toBeInstanceOf(TransshipError)
      expect(error).toMatchObject({ code: 'TRANSPORT_URL_INVALID' })
      const shown = url.replace('AKIA:secret@', 'REDACTED@')
      expect((error as Error).message).toMatch(
        `[transship] [s3] invalid URL ${JSON.stringify(shown)}: `,
      )
      expect((error as Error).message).toMatch(why)
      expect((error as Error).message).not.toMatch(/secret/)
    })
  }

  it('percent-encodes the prefix segments of its url', () => {
    expect(s3Url('b', 'a b/c#d/é')).toBe('s3://b/a%20b/c%23d/%C3%A9')
    expect(parseS3Url('s3://b/a%20b/c%23d/%C3%A9')).toEqual({ bucket: 'b', prefix: 'a b/c#d/é' })
  })
})

describe('createS3Transport options', () => {
  const refusals: Array<[string, unknown, RegExp]> = [
    ['no bucket', {}, /Missing required option `bucket`\./],
    ['a bucket with a /', { bucket: 'a/b' }, /invalid bucket "a\/b"/],
    ['a prefix with ..', { bucket: 'b', prefix: 'a/../c' }, /invalid prefix "a\/\.\.\/c"/],
    ['parts under 5 MiB', { bucket: 'b', partSize: 1024 * 1024 }, /`partSize`/],
    ['no parallelism', { bucket: 'b', parallelism: 0 }, /`parallelism`/],
    [
      'a KMS key with SSE-S3',
      { bucket: 'b', serverSideEncryption: 'AES256', kmsKeyId: 'k' },
      /`kmsKeyId` needs `serverSideEncryption` aws:kms/,
    ],
    [
      'client options with a client',
      { bucket: 'b', client: new S3Client({}), region: 'x', endpoint: 'http://a' },
      /option `endpoint`, `region` cannot go with `client`/,
    ],
    ['an endpoint that is no URL', { bucket: 'b', endpoint: 'localhost:9000' }, /expected an http/],
    [
      'credentials in the endpoint',
      { bucket: 'b', endpoint: 'http://key:secret@127.0.0.1:9000' },
      /credentials do not belong in its URL/,
    ],
  ]
  for (const [what, options, why] of refusals) {
    it(`refuses ${what} with TRANSPORT_OPTIONS_INVALID`, () => {
      const error = catchError(() => createS3Transport(options as S3TransportOptions))
      expect(error).toBeInstanceOf(TransshipError)
      expect(error).toMatchObject({ code: 'TRANSPORT_OPTIONS_INVALID' })
      expect((error as Error).message).toMatch(/^\[transship\] \[s3\] /)
      expect((error as Error).message).toMatch(why)
      expect((error as Error).message).not.toMatch(/secret/)
    })
  }

  it('drops leading and trailing slashes of the prefix', () => {
    const transport = createS3Transport({ bucket: 'b', prefix: '/a/b/', endpoint: 'http://h:1' })
    expect(transport.prefix).toBe('a/b')
    expect(transport.url).toBe('s3://b/a/b')
  })
})

function catchError(action: () => unknown): unknown {
  try {
    action()
  } catch (error) {
    return error
  }
  return expect.fail('expected an error')
}
