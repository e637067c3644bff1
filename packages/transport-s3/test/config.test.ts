import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { format, inspect } from 'node:util'
import { S3Client } from '@aws-sdk/client-s3'
import { drainToHash, randomArtifact } from '@transship/core/testing'
import createDebug from 'debug'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { testS3 } from '../../../test/support/s3.js'
import { clientConfig } from '../src/options.js'
import { testTransport } from './support.js'

// Integration tests: they need `pnpm testenv up`, and fail (never skip) without it.

let home = ''
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'transship-s3-config-'))
  // Nothing from this machine's AWS setup: only what each test sets.
  for (const name of [
    'AWS_ENDPOINT_URL',
    'AWS_ENDPOINT_URL_S3',
    'AWS_REGION',
    'AWS_DEFAULT_REGION',
    'AWS_PROFILE',
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_SESSION_TOKEN',
    'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  ]) {
    vi.stubEnv(name, undefined)
  }
  vi.stubEnv('AWS_CONFIG_FILE', join(home, 'config'))
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', join(home, 'credentials'))
  vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true')
})
afterEach(async () => {
  vi.unstubAllEnvs()
  await rm(home, { recursive: true, force: true })
})

async function regionOf(config: ReturnType<typeof clientConfig>['config']): Promise<string> {
  const client = new S3Client(config)
  try {
    return await client.config.region()
  } finally {
    client.destroy()
  }
}

describe('the endpoint', () => {
  it('comes from the option, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL', () => {
    const env = { AWS_ENDPOINT_URL_S3: 'http://s3.test:1', AWS_ENDPOINT_URL: 'http://all.test:2' }
    expect(clientConfig({ endpoint: 'http://option.test:3' }, env).config.endpoint).toBe(
      'http://option.test:3',
    )
    expect(clientConfig({}, env).config.endpoint).toBe('http://s3.test:1')
    expect(clientConfig({}, { AWS_ENDPOINT_URL: 'http://all.test:2' }).config.endpoint).toBe(
      'http://all.test:2',
    )
    expect(clientConfig({}, {}).config.endpoint).toBeUndefined()
    expect(
      clientConfig({}, { ...env, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }).config.endpoint,
    ).toBeUndefined()
  })

  for (const [endpoint, pathStyle] of [
    ['http://127.0.0.1:4569', true],
    ['http://[::1]:4569', true],
    ['http://localhost:9000', true],
    ['https://minio.localhost', true],
    ['https://s3.example.com', false],
    ['https://storage.googleapis.com', false],
  ] as const) {
    it(`${pathStyle ? 'uses' : 'does not use'} path-style addressing for ${endpoint}`, () => {
      expect(clientConfig({ endpoint }, {}).config.forcePathStyle).toBe(pathStyle)
      expect(clientConfig({ endpoint, forcePathStyle: !pathStyle }, {}).config.forcePathStyle).toBe(
        !pathStyle,
      )
    })
  }

  it('leaves AWS itself to virtual-hosted addressing', () => {
    expect(clientConfig({}, {}).config.forcePathStyle).toBe(false)
  })
})

describe('the region', () => {
  it('is us-east-1 with a custom endpoint and no region anywhere', async () => {
    expect(await regionOf(clientConfig({ endpoint: 'http://127.0.0.1:1' }).config)).toBe(
      'us-east-1',
    )
  })

  it('comes from the option, else AWS_REGION, else the profile', async () => {
    await writeFile(
      join(home, 'config'),
      '[default]\nregion = eu-north-1\n[profile other]\nregion = ap-south-2\n',
    )
    const endpoint = 'http://127.0.0.1:1'
    expect(await regionOf(clientConfig({ endpoint }).config)).toBe('eu-north-1')
    expect(await regionOf(clientConfig({ endpoint, profile: 'other' }).config)).toBe('ap-south-2')
    vi.stubEnv('AWS_REGION', 'sa-east-1')
    expect(await regionOf(clientConfig({ endpoint, profile: 'other' }).config)).toBe('sa-east-1')
    expect(await regionOf(clientConfig({ endpoint, region: 'af-south-1' }).config)).toBe(
      'af-south-1',
    )
  })

  it('is left to the SDK without a custom endpoint', async () => {
    vi.stubEnv('AWS_REGION', 'eu-west-3')
    const { config } = clientConfig({})
    expect(config.region).toBeUndefined()
    expect(await regionOf(config)).toBe('eu-west-3')
  })
})

describe('credentials', () => {
  it('come from the environment through the SDK provider chain, endpoint included', async () => {
    const s3 = testS3()
    vi.stubEnv('AWS_ENDPOINT_URL_S3', s3.endpoint)
    vi.stubEnv('AWS_ACCESS_KEY_ID', s3.credentials.accessKeyId)
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.credentials.secretAccessKey)
    const transport = testTransport('env', {
      endpoint: undefined,
      region: undefined,
      credentials: undefined,
    })
    const artifact = await randomArtifact(1000, 'env')
    await transport.put('a', artifact.stream())
    expect(await drainToHash(await transport.get('a'))).toMatchObject({ sha256: artifact.sha256 })
  })

  it('come from a named profile of the shared files', async () => {
    const s3 = testS3()
    await writeFile(
      join(home, 'credentials'),
      `[staging]\naws_access_key_id = ${s3.credentials.accessKeyId}\naws_secret_access_key = ${s3.credentials.secretAccessKey}\n`,
    )
    const transport = testTransport('profile', {
      profile: 'staging',
      region: undefined,
      credentials: undefined,
    })
    await transport.put('a', (await randomArtifact(10)).stream())
    expect(await transport.stat('a')).toMatchObject({ size: 10 })
  })
})

describe('secrets', () => {
  const secret = 'never-shown-SECRET-0123456789'
  let lines: string[] = []
  const originalLog = createDebug.log
  beforeEach(() => {
    lines = []
    createDebug.enable('transship:*')
    createDebug.log = (...args: unknown[]) => {
      lines.push(format(...args))
    }
  })
  afterEach(() => {
    createDebug.disable()
    createDebug.log = originalLog
  })

  it('are not in the transport, its url, its errors, warnings or logs', async () => {
    // s3rver checks access key ids, not SigV4 signatures: any secret goes with S3RVER.
    const warnings: string[] = []
    const onWarning = (message: string) => warnings.push(message)
    const accessKeyId = testS3().credentials.accessKeyId
    const working = testTransport('secrets', {
      credentials: { accessKeyId, secretAccessKey: secret },
      onWarning,
    })
    const artifact = await randomArtifact(6 * 1024 * 1024, 'secret')
    await working.put('a', artifact.stream())
    await drainToHash(await working.get('a'))
    await working.list('')
    const refused = testTransport('secrets', {
      credentials: { accessKeyId: 'UNKNOWN', secretAccessKey: secret },
      onWarning,
    })
    const error = await refused.put('a', artifact.stream()).catch((reason: unknown) => reason)
    expect(error).toMatchObject({
      code: 'TRANSPORT_IO',
      message: expect.stringMatching(/InvalidAccessKeyId: .* \(HTTP 403\)$/),
    })

    const shown = [
      ...[working, refused].flatMap((transport) => [
        transport.url,
        JSON.stringify(transport),
        inspect(transport, { depth: 6 }),
      ]),
      inspect(error, { depth: 3 }),
      ...warnings,
      ...lines,
    ].join('\n')
    expect(lines.join('\n')).toMatch(/credentials from REDACTED/)
    expect(lines.join('\n')).toMatch(/put s3:\/\/.*: 6291456 bytes/)
    expect(shown).not.toContain(secret)
  })
})
