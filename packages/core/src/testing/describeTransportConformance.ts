import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, beforeEach, describe } from 'vitest'
import type { Transport } from '../transport/contract.js'
import { backpressureTests } from './conformance/backpressure.js'
import type { ConformanceContext } from './conformance/context.js'
import { failedPutTests } from './conformance/failedPuts.js'
import { integrityTests } from './conformance/integrity.js'
import { invalidKeyTests } from './conformance/invalidKeys.js'
import { listingTests } from './conformance/listing.js'
import { removalTests } from './conformance/removal.js'
import { roundTripTests } from './conformance/roundTrip.js'

/** A transport on a real backend, and how to dispose of what was set up for it. */
export interface TransportFixture {
  /** The transport under test. */
  readonly transport: Transport
  /** Runs after the transport is closed: removes the directory, bucket, … made for it. */
  readonly teardown?: () => void | Promise<void>
}

/** How {@link describeTransportConformance} runs. */
export interface ConformanceOptions {
  /**
   * `'test'` (the default) calls `setup` before each test, for a fresh, empty backend each
   * time; `'suite'` calls it once, for backends that are slow to set up. Either way each
   * test works under a key prefix of its own, which it removes afterwards in `'suite'` scope.
   */
  readonly scope?: 'test' | 'suite'
}

/**
 * Registers the tests every transport must pass, run against the real backend: round trips
 * of empty, small and multi-MiB artifacts, `stat` and `get` of missing keys, replacement,
 * `expected` size and sha256, failed, aborted and unfinished puts leaving nothing visible,
 * segment-wise sorted listing, subtree removal, invalid keys on every method, and
 * backpressure on `get`.
 *
 * ## Example
 * ```ts
 * // packages/transport-local/test/conformance.test.ts
 * describeTransportConformance('local', async () => {
 *   const base = await mkdtemp(join(tmpdir(), 'transship-'))
 *   return {
 *     transport: createLocalTransport({ base }),
 *     teardown: () => rm(base, { recursive: true, force: true }),
 *   }
 * })
 * ```
 *
 * @param name - the transport's name, shown in the test titles.
 * @param setup - makes a transport on a real backend; its `close()` (when it has one) and
 *   the fixture's `teardown` run after each test, or after the suite.
 * @param options - see {@link ConformanceOptions}.
 */
export function describeTransportConformance(
  name: string,
  setup: () => TransportFixture | Promise<TransportFixture>,
  options: ConformanceOptions = {},
): void {
  describe(`${name} transport conformance`, () => {
    let fixture: TransportFixture | undefined
    let root = ''

    const open = async () => {
      fixture = await setup()
    }
    const close = async () => {
      const current = fixture
      fixture = undefined
      await current?.transport.close?.()
      await current?.teardown?.()
    }
    const perTest = options.scope !== 'suite'
    beforeAll(async () => {
      if (!perTest) await open()
    })
    afterAll(async () => {
      if (!perTest) await close()
    })
    beforeEach(async () => {
      if (perTest) await open()
      root = `conformance-${randomUUID()}`
    })
    afterEach(async () => {
      if (perTest) await close()
      else await fixture?.transport.remove(root)
    })

    const context: ConformanceContext = {
      transport() {
        if (fixture === undefined) throw new Error('the transport is used outside a test')
        return fixture.transport
      },
      key: (path) => (path === undefined ? root : `${root}/${path}`),
    }
    roundTripTests(context)
    integrityTests(context)
    failedPutTests(context)
    listingTests(context)
    removalTests(context)
    invalidKeyTests(context)
    backpressureTests(context)
  })
}
