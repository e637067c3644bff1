import type { Transport } from '../../transport/contract.js'

/** What each group of conformance tests is given. */
export interface ConformanceContext {
  /** The transport under test; call it inside a test or hook. */
  transport(): Transport
  /**
   * A key under a prefix of its own for the running test, so that tests sharing one
   * transport never see each other's artifacts: `key('a/x')` is `<test root>/a/x`, `key()`
   * the test root itself.
   */
  key(path?: string): string
}
