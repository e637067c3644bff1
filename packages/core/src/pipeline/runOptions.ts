import type { Ledger } from '../ledger/ledger.js'
import type { RollbackOnFailureOptions } from './rollbackOnFailure.js'
import type { InitialStateOptions } from './state.js'

/** What every pipeline takes to run: an abort signal, a ledger, the undo steps' timeout. */
export interface RunOptions {
  /** Aborting it interrupts the run, and everything is put back. */
  readonly signal?: AbortSignal
  /**
   * The run's undo ledger (default: one in memory). A durable one ({@link Ledger.durable})
   * lets `transship recover` bring the run to a safe end after a crash.
   */
  readonly ledger?: Ledger
  /** How long one undo step may take (default 60 s). */
  readonly undoTimeoutMs?: number
}

/** The options of `startMigration` for a pipeline's run. */
export function runOptions(options: RunOptions): InitialStateOptions {
  return {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.ledger ? { ledger: options.ledger } : {}),
  }
}

/** The options of `rollbackOnFailure` for a pipeline's run. */
export function rollbackOptions(options: RunOptions): RollbackOnFailureOptions {
  return {
    ...(options.ledger ? { ledger: options.ledger } : {}),
    ...(options.undoTimeoutMs === undefined ? {} : { undoTimeoutMs: options.undoTimeoutMs }),
  }
}
