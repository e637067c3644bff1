import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'

/** Which process holds a ledger or a lock: its host, pid, and when it started. */
export interface Holder {
  readonly host: string
  readonly pid: number
  /** The process's start, in clock ticks since boot (`/proc/PID/stat`), where known. */
  readonly pidStartedAt?: string
}

/** This process, as a holder. */
export function thisProcess(): Holder {
  const started = processStart(process.pid)
  return {
    host: hostname(),
    pid: process.pid,
    ...(started === undefined ? {} : { pidStartedAt: started }),
  }
}

/**
 * Whether a holder is gone: it ran on this host, and no process runs under its pid, or one
 * started at another time does (the pid was reused). A holder on another host is never
 * known to be gone.
 *
 * @param holder - the holder.
 * @return `true` when it is known to be gone.
 */
export function isGone(holder: Holder): boolean {
  if (holder.host !== hostname()) return false
  const started = processStart(holder.pid)
  if (started === undefined) return true
  return holder.pidStartedAt !== undefined && started !== holder.pidStartedAt
}

/** Field 22 of `/proc/PID/stat` (after the parenthesised command, which may hold spaces). */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}
