import { isIP } from 'node:net'
import type {
  S3Client,
  S3ClientConfig,
  ServerSideEncryption,
  StorageClass,
} from '@aws-sdk/client-s3'
import {
  loadConfig,
  NODE_REGION_CONFIG_FILE_OPTIONS,
  NODE_REGION_CONFIG_OPTIONS,
} from '@smithy/core/config'
import { assertSafePrefix, messageOf } from '@transship/core'
import { optionsError, redactUserinfo } from './errors.js'
import { MAX_PART_SIZE, MIN_PART_SIZE } from './partPlan.js'

const MiB = 1024 * 1024

/** Where artifacts go, and how they are written: with a ready client or without one. */
export interface S3StorageOptions {
  /** The bucket (required); it must exist. */
  readonly bucket: string
  /**
   * The key prefix artifacts are stored under, a `/`-separated path without `.`, `..` or
   * empty segments (a leading or trailing `/` is dropped); the bucket's root by default.
   */
  readonly prefix?: string
  /**
   * The smallest part of a multipart upload, in bytes: at least 5 MiB, 8 MiB by default.
   * Parts get larger when the artifact's size calls for it (see the README).
   */
  readonly partSize?: number
  /**
   * How many parts of one upload are held in memory, read or being sent, at once (default
   * 4): memory is bounded by `partSize` × `parallelism`.
   */
  readonly parallelism?: number
  /** Server-side encryption: `AES256` (SSE-S3) or `aws:kms` (SSE-KMS). */
  readonly serverSideEncryption?: ServerSideEncryption
  /** The KMS key of SSE-KMS (implies `serverSideEncryption: 'aws:kms'` when that is unset). */
  readonly kmsKeyId?: string
  /** The storage class of stored artifacts (`STANDARD`, `STANDARD_IA`, …). */
  readonly storageClass?: StorageClass
  /**
   * Receives what went wrong without failing the call, such as a multipart upload the
   * server refused to abort. By default it goes to `process.emitWarning`.
   */
  readonly onWarning?: (message: string) => void
}

/** How the transport makes its own client; see the README for where each value comes from. */
export interface S3ClientOptions {
  /**
   * The S3-compatible service's URL, e.g. `http://127.0.0.1:4569`; by default
   * `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, else AWS itself.
   */
  readonly endpoint?: string
  /**
   * The region; by default the SDK's (`AWS_REGION`, the profile's `region`, instance
   * metadata), and `us-east-1` for a custom endpoint when none is set.
   */
  readonly region?: string
  /** The shared config and credentials profile; by default `AWS_PROFILE`, else `default`. */
  readonly profile?: string
  /**
   * Path-style addressing (`endpoint/bucket/key`); by default on for IP-address and
   * `localhost` endpoints, off otherwise.
   */
  readonly forcePathStyle?: boolean
  /**
   * Credentials, or a function that provides them; by default the SDK's provider chain
   * (environment, shared config and profiles, SSO, instance and container roles). Never
   * logged or shown.
   */
  readonly credentials?: S3ClientConfig['credentials']
  /** Attempts per request, with backoff, on 5xx, throttling and connection failures (default 5). */
  readonly maxAttempts?: number
  /** Milliseconds to wait for a connection (default 10,000). */
  readonly connectTimeout?: number
  /** Milliseconds without a byte either way before a request is dropped and retried (default 120,000). */
  readonly idleTimeout?: number
}

/** Options of `createS3Transport`: a client's options, or a ready `client`. */
export type S3TransportOptions =
  | (S3StorageOptions & S3ClientOptions & { readonly client?: undefined })
  | (S3StorageOptions & { readonly client: S3Client } & { [K in keyof S3ClientOptions]?: never })

/** The options with defaults applied and checked. */
export interface ResolvedStorage {
  readonly bucket: string
  /** Without leading or trailing `/`; `''` for the bucket's root. */
  readonly prefix: string
  readonly partSize: number
  readonly parallelism: number
  /** Sent with PutObject and CreateMultipartUpload. */
  readonly objectParams: {
    readonly ServerSideEncryption?: ServerSideEncryption
    readonly SSEKMSKeyId?: string
    readonly StorageClass?: StorageClass
  }
  readonly warn: (message: string) => void
}

const CLIENT_OPTION_NAMES = [
  'endpoint',
  'region',
  'profile',
  'forcePathStyle',
  'credentials',
  'maxAttempts',
  'connectTimeout',
  'idleTimeout',
] as const

/**
 * Checks the storage options and applies their defaults.
 *
 * @throws TransshipError `TRANSPORT_OPTIONS_INVALID`.
 */
export function resolveStorage(options: S3TransportOptions): ResolvedStorage {
  if (typeof options?.bucket !== 'string' || options.bucket === '') {
    throw optionsError('Missing required option `bucket`.')
  }
  if (options.bucket.includes('/')) {
    throw optionsError(`invalid bucket ${JSON.stringify(options.bucket)}: it holds a /`)
  }
  if (options.client !== undefined) {
    const mixed = CLIENT_OPTION_NAMES.filter((name) => options[name] !== undefined)
    if (mixed.length > 0) {
      throw optionsError(
        `option ${mixed.map((name) => `\`${name}\``).join(', ')} cannot go with \`client\`: configure the client itself`,
      )
    }
  }
  const prefix = normalizePrefix(options.prefix ?? '')
  const partSize = options.partSize ?? 8 * MiB
  if (!Number.isInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
    throw optionsError(
      `option \`partSize\` must be a whole number of bytes from 5 MiB to 5 GiB, not ${partSize}`,
    )
  }
  const parallelism = options.parallelism ?? 4
  if (!Number.isInteger(parallelism) || parallelism < 1) {
    throw optionsError(`option \`parallelism\` must be a whole number from 1, not ${parallelism}`)
  }
  const { kmsKeyId, storageClass } = options
  const serverSideEncryption =
    options.serverSideEncryption ?? (kmsKeyId !== undefined ? 'aws:kms' : undefined)
  if (kmsKeyId !== undefined && !serverSideEncryption?.startsWith('aws:kms')) {
    throw optionsError(
      `option \`kmsKeyId\` needs \`serverSideEncryption\` aws:kms, not ${serverSideEncryption}`,
    )
  }
  return {
    bucket: options.bucket,
    prefix,
    partSize,
    parallelism,
    objectParams: {
      ...(serverSideEncryption !== undefined && { ServerSideEncryption: serverSideEncryption }),
      ...(kmsKeyId !== undefined && { SSEKMSKeyId: kmsKeyId }),
      ...(storageClass !== undefined && { StorageClass: storageClass }),
    },
    warn: options.onWarning ?? ((message) => process.emitWarning(message, 'TransshipWarning')),
  }
}

/** A prefix without leading or trailing `/`, checked as a transport key. */
function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '').replace(/\/+$/, '')
  try {
    assertSafePrefix(trimmed, 's3')
  } catch (error) {
    throw optionsError(
      `invalid prefix ${JSON.stringify(prefix)}: a prefix is a /-separated path without '.', '..' or empty segments`,
      error,
    )
  }
  return trimmed
}

/** What the transport's own client is configured with, for its debug log (no secrets). */
export interface ClientSummary {
  readonly endpoint: string
  readonly forcePathStyle: boolean
  readonly region: string
  readonly credentials: string
}

/**
 * The configuration of the transport's own client: the endpoint from the options or the
 * SDK's environment variables, path-style addressing for IP-address and localhost
 * endpoints, `us-east-1` for a custom endpoint without a region, retries and timeouts.
 *
 * @param options - the client options.
 * @param env - the environment (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`,
 *   `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`).
 * @throws TransshipError `TRANSPORT_OPTIONS_INVALID` for an endpoint that is not an http(s) URL.
 */
export function clientConfig(
  options: S3ClientOptions,
  env: NodeJS.ProcessEnv = process.env,
): { config: S3ClientConfig; summary: ClientSummary } {
  const endpoint = options.endpoint ?? endpointFromEnvironment(env)
  let hostname: string | undefined
  if (endpoint !== undefined) {
    const shown = JSON.stringify(redactUserinfo(endpoint))
    if (shown !== JSON.stringify(endpoint)) {
      throw optionsError(
        `invalid endpoint ${shown}: credentials do not belong in its URL (use the SDK provider chain)`,
      )
    }
    let parsed: URL
    try {
      parsed = new URL(endpoint)
    } catch (error) {
      throw optionsError(`invalid endpoint ${shown}: ${messageOf(error)}`)
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw optionsError(`invalid endpoint ${shown}: expected an http(s) URL`)
    }
    hostname = parsed.hostname
  }
  const forcePathStyle = options.forcePathStyle ?? (hostname !== undefined && isLocal(hostname))
  const region =
    options.region ?? (endpoint !== undefined ? regionOrUsEast1(options.profile) : undefined)
  const config: S3ClientConfig = {
    ...(endpoint !== undefined && { endpoint }),
    ...(region !== undefined && { region }),
    ...(options.profile !== undefined && { profile: options.profile }),
    ...(options.credentials !== undefined && { credentials: options.credentials }),
    forcePathStyle,
    followRegionRedirects: true,
    maxAttempts: options.maxAttempts ?? 5,
    requestHandler: {
      connectionTimeout: options.connectTimeout ?? 10_000,
      socketTimeout: options.idleTimeout ?? 120_000,
    },
  }
  return {
    config,
    summary: {
      endpoint: endpoint ?? 'AWS',
      forcePathStyle,
      region:
        options.region ?? (endpoint !== undefined ? 'configured, else us-east-1' : 'configured'),
      credentials:
        options.credentials !== undefined ? 'REDACTED (given)' : 'the SDK default provider chain',
    },
  }
}

function endpointFromEnvironment(env: NodeJS.ProcessEnv): string | undefined {
  if (/^true$/i.test(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '')) return undefined
  return env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined
}

/** Whether a URL's hostname is an IP address or localhost: no bucket subdomains there. */
function isLocal(hostname: string): boolean {
  const bare = hostname.replace(/^\[(.*)\]$/, '$1')
  return isIP(bare) !== 0 || bare === 'localhost' || bare.endsWith('.localhost')
}

/**
 * The region from `AWS_REGION` or the profile's `region`, as the SDK reads them, else
 * `us-east-1`: a custom endpoint does not need a real region, and the SDK's last resort
 * (the instance metadata service) only makes sense on AWS.
 */
function regionOrUsEast1(profile: string | undefined): () => Promise<string> {
  const configured = loadConfig<string | undefined>(
    { ...NODE_REGION_CONFIG_OPTIONS, default: () => undefined },
    { ...NODE_REGION_CONFIG_FILE_OPTIONS, ...(profile !== undefined && { profile }) },
  )
  return async () => (await configured()) || 'us-east-1'
}
