import { downtimeOf } from '../pipeline/downtime.js'
import type { Downtime, MemberState } from '../pipeline/state.js'

/**
 * A group's downtime: from the first member's freeze to the last member's start, its
 * parts being the freeze window (first freeze requested to last freeze done), the transfer
 * and the starts (first start begun to last start done). Members that were not running
 * (never frozen) do not count.
 *
 * @param members - the group's members, after their starts.
 * @return the downtime, or `undefined` when no member was frozen and started.
 */
export function groupDowntime(members: readonly MemberState[]): Downtime | undefined {
  const frozen = members.flatMap(({ state }) =>
    state.freeze && state.downtime ? [{ freeze: state.freeze, downtime: state.downtime }] : [],
  )
  const [first] = frozen
  if (!first) return undefined
  const at = Math.min(...frozen.map(({ freeze }) => freeze.at))
  const frozenUntil = Math.max(...frozen.map(({ freeze }) => freeze.at + freeze.durationMs))
  const startsFrom = Math.min(
    ...frozen.map(({ freeze, downtime }) => freeze.at + downtime.totalMs - downtime.restoreMs),
  )
  const running = Math.max(...frozen.map(({ freeze, downtime }) => freeze.at + downtime.totalMs))
  return downtimeOf({ by: first.freeze.by, at, durationMs: frozenUntil - at }, startsFrom, running)
}
