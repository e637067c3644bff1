import type { SummaryEvent } from '@transship/core'

/** A byte count as people read it: `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

/** A duration as people read it: `850 ms`, `3.2 s`, `4 min 05 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const seconds = Math.round(ms / 1000)
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`
}

/** ", downtime 1.2 s (checkpoint 0.3 s, transfer 0.6 s, restore 0.3 s)" (or "stop 0.3 s"), or nothing. */
export function downtimeOf(summary: SummaryEvent): string {
  const { downtime } = summary
  if (!downtime) return ''
  return `, downtime ${formatDuration(downtime.totalMs)} (${downtime.frozenBy} ${formatDuration(downtime.checkpointMs)}, transfer ${formatDuration(downtime.transferMs)}, restore ${formatDuration(downtime.restoreMs)})`
}

/** The target's name, or each group member's. */
export function targetsOf(summary: SummaryEvent): string {
  if (!summary.members) return summary.target?.name ?? '?'
  return summary.members
    .map((member) => member.target?.name ?? `${member.container} (not made)`)
    .join(', ')
}
