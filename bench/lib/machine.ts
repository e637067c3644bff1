import { readFileSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'

/** How busy the machine was: benchmarks print it, since other work skews their figures. */
export interface MachineLoad {
  /** 1-minute load average. */
  readonly load: number
  /** Share of the last 60 s in which some task waited for I/O (PSI), when the kernel has it. */
  readonly ioPressure?: number
}

/** The machine's load now. */
export function machineLoad(): MachineLoad {
  const load = loadavg()[0] ?? Number.NaN
  try {
    const line = readFileSync('/proc/pressure/io', 'utf8').split('\n')[0] ?? ''
    const avg60 = /avg60=([\d.]+)/.exec(line)?.[1]
    return avg60 === undefined ? { load } : { load, ioPressure: Number(avg60) }
  } catch {
    return { load }
  }
}

/**
 * A note line on the load during a measurement.
 *
 * @param before - the load when it started.
 * @param after - the load when it ended.
 * @return e.g. `machine: 2 CPUs, load average 1.20 → 3.40, I/O pressure (avg60) 0.5% → 6.1%`.
 */
export function describeLoad(before: MachineLoad, after: MachineLoad): string {
  const io =
    before.ioPressure === undefined || after.ioPressure === undefined
      ? ''
      : `, I/O pressure (some, avg60) ${before.ioPressure.toFixed(1)}% → ${after.ioPressure.toFixed(1)}%`
  return `machine: ${availableParallelism()} CPUs, load average ${before.load.toFixed(2)} → ${after.load.toFixed(2)}${io}`
}
