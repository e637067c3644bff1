import type { Downtime, Freeze } from './state.js'

/**
 * The downtime of a migration: from the freeze (the stop or checkpoint request) to the
 * target's start returning, and its parts, which add up to the total.
 *
 * ## Example
 * ```ts
 * const restoreStarted = Date.now()
 * await engine.startContainer(target.id)
 * const downtime = downtimeOf(state.freeze, restoreStarted, Date.now())
 * ```
 *
 * @param freeze - when the source was frozen, and how long the stop or checkpoint took.
 * @param restoreStarted - when the destination began to start the target (`Date.now()`).
 * @param running - when the target's start returned (`Date.now()`).
 * @return the downtime and its parts, in milliseconds.
 */
export function downtimeOf(freeze: Freeze, restoreStarted: number, running: number): Downtime {
  const totalMs = Math.max(0, running - freeze.at)
  const restoreMs = Math.max(0, Math.min(running - restoreStarted, totalMs))
  const checkpointMs = Math.max(0, Math.min(freeze.durationMs, totalMs - restoreMs))
  const transferMs = totalMs - checkpointMs - restoreMs
  return { totalMs, frozenBy: freeze.by, checkpointMs, transferMs, restoreMs }
}
