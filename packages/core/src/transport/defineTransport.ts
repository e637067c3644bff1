import type { Readable } from 'node:stream'
import { messageOf, TransshipError } from '../errors.js'
import type {
  ArtifactExpectation,
  ArtifactStat,
  Transport,
  TransportCallOptions,
} from './contract.js'
import { assertSafeKey, assertSafePrefix } from './keys.js'

/** What a driver's `put` is given besides the key and the body: one object. */
export interface DriverPutOptions extends TransportCallOptions {
  /** What the caller expects of the artifact: the driver refuses to commit another. */
  readonly expected?: ArtifactExpectation
}

/**
 * What is a backend's own in a transport: where bytes go and how they come back. Keys and
 * prefixes reach it already checked, the empty prefix never reaches `remove`, an aborted
 * signal never reaches `put`, and whatever it throws that is not a `TransshipError`
 * reaches the caller as `TRANSPORT_IO`, naming the transport, the call and the key.
 */
export interface TransportDriver {
  /** Short name of the kind of transport, in errors: `memory`, `webdav`. */
  readonly name: string
  /** The URL it stores under; never holds secrets. */
  readonly url: string
  /**
   * Stores the body under `key`, visible only once complete and meeting `expected`
   * (`assertExpectation` checks it). On abort, `body` is destroyed: stop, store nothing.
   */
  put(key: string, body: Readable, options: DriverPutOptions): Promise<ArtifactStat>
  /** The stored artifact, or `undefined` when there is none (the caller gets `TRANSPORT_NOT_FOUND`). */
  get(key: string, options: TransportCallOptions): Promise<Readable | undefined>
  stat(key: string, options: TransportCallOptions): Promise<ArtifactStat | undefined>
  /** Every artifact at `prefix` or under it, segment-wise (`''`: all), sorted by key. */
  list(prefix: string, options: TransportCallOptions): Promise<ArtifactStat[]>
  /** Removes every artifact at `prefix` or under it (never `''`). */
  remove(prefix: string, options: TransportCallOptions): Promise<void>
  close?(): Promise<void>
}

/**
 * A transport from a driver: the contract's checks and errors done once, for every
 * backend, as flydrive's `Disk` does for its drivers (see {@link TransportDriver}).
 *
 * ## Example
 * ```ts
 * export const memory = (name: string) => defineTransport({ name: 'memory', url: `mem://${name}`, … })
 * ```
 *
 * @param driver - the backend's own operations.
 * @return the transport.
 */
export function defineTransport(driver: TransportDriver): Transport {
  const { name } = driver
  const io = (call: string, key: string) => (error: unknown) => {
    if (error instanceof TransshipError) throw error
    throw new TransshipError(
      'TRANSPORT_IO',
      `[${name}] ${call} ${JSON.stringify(key)} at ${driver.url} failed: ${messageOf(error)}`,
      { cause: error },
    )
  }
  const transport: Transport = {
    name,
    url: driver.url,
    async put(key, body, expected, options = {}) {
      assertSafeKey(key, name)
      const { signal } = options
      if (signal?.aborted) {
        body.destroy()
        throw new TransshipError('TRANSPORT_IO', `[${name}] put ${JSON.stringify(key)}: aborted`, {
          cause: signal.reason,
        })
      }
      const stop = () => body.destroy(signal?.reason ?? new Error('aborted'))
      signal?.addEventListener('abort', stop, { once: true })
      try {
        return await driver
          .put(key, body, { ...options, ...(expected ? { expected } : {}) })
          .catch(io('put', key))
      } finally {
        signal?.removeEventListener('abort', stop)
      }
    },
    async get(key, options = {}) {
      assertSafeKey(key, name)
      const found = await driver.get(key, options).catch(io('get', key))
      if (!found) {
        throw new TransshipError(
          'TRANSPORT_NOT_FOUND',
          `[${name}] no artifact ${JSON.stringify(key)} at ${driver.url}`,
        )
      }
      return found
    },
    async stat(key, options = {}) {
      assertSafeKey(key, name)
      return driver.stat(key, options).catch(io('stat', key))
    },
    async list(prefix, options = {}) {
      assertSafePrefix(prefix, name)
      return driver.list(prefix.replace(/\/$/, ''), options).catch(io('list', prefix))
    },
    async remove(prefix, options = {}) {
      const trimmed = prefix.replace(/\/$/, '')
      if (trimmed === '') {
        throw new TransshipError(
          'TRANSPORT_INVALID_KEY',
          `[${name}] refusing to remove the empty prefix: it would remove everything at ${driver.url}`,
        )
      }
      assertSafePrefix(prefix, name)
      return driver.remove(trimmed, options).catch(io('remove', prefix))
    },
  }
  return driver.close
    ? { ...transport, close: () => driver.close?.() ?? Promise.resolve() }
    : transport
}
