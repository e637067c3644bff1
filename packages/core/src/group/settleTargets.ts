import { setTimeout as sleep } from 'node:timers/promises'
import type { EngineClient } from '../engine/client.js'
import { defineStage } from '../pipeline/stage.js'
import { DEFAULT_SETTLE_MS, notRunning } from '../stages/checkpoint/restoreCheckpoint.js'

/** Options of {@link settleTargets}. */
export interface SettleTargetsOptions {
  /** The destination engine. */
  readonly engine: EngineClient
  /** How long the targets must keep running after the last start (default 500 ms). */
  readonly settleMs?: number
}

/**
 * Stage `settle-targets`: once every member of a group started (each start told
 * `settleMs: 0`, so that the next starts at once), waits once and checks that every
 * target still runs: a restored process that dies at once still starts. One wait for the
 * group instead of one per member, which would add to the group's downtime.
 *
 * @param options - the destination engine, the settle time.
 * @return the stage operator.
 * @throws TransshipError `TARGET_NOT_RUNNING`, naming the first target that stopped.
 */
export function settleTargets(options: SettleTargetsOptions) {
  return defineStage('settle-targets', async (state, { signal }) => {
    await sleep(options.settleMs ?? DEFAULT_SETTLE_MS, undefined, { signal })
    for (const { state: member } of state.members ?? []) {
      if (!member.target || !member.source?.running) continue
      const inspect = await options.engine.inspectContainer(member.target.id)
      if (!inspect.State.Running) throw notRunning(options.engine, member.target, inspect.State)
    }
    return state
  })
}
