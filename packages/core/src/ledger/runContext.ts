import { AsyncLocalStorage } from 'node:async_hooks'
import type { Ledger } from './ledger.js'

/** Label on every container a run makes for its own use (helpers, locks): its ledger id. */
export const MIGRATION_LABEL = 'transship.migration'

const current = new AsyncLocalStorage<Ledger>()

/**
 * Runs `work` as part of a run, so that what it makes deep down (a helper container) can
 * be labelled with the run's ledger id, and found by `transship recover` after a crash.
 *
 * @param ledger - the run's ledger.
 * @param work - the work.
 * @return what `work` returns.
 */
export function withinRun<T>(ledger: Ledger, work: () => T): T {
  return current.run(ledger, work)
}

/** The labels that tie a container to the run making it: none outside a run. */
export function runLabels(): Record<string, string> {
  const ledger = current.getStore()
  return ledger ? { [MIGRATION_LABEL]: ledger.id } : {}
}
