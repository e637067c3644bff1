import type { TreeSummary } from '../lib/data.js'
import { describeLoad, type MachineLoad } from '../lib/machine.js'
import { describeRssMethod, type RssMethod } from '../lib/process.js'
import { type Column, mbPerSecond, median, printTable, seconds, spread } from '../lib/table.js'
import { METHOD_LABELS, type Measured, type MethodId } from './methods.js'
import type { Workload } from './workloads.js'

/** One method's one run: what it measured, or why it failed. */
export interface RunResult {
  readonly method: MethodId
  readonly index: number
  readonly measured?: Measured
  /** The heartbeat's gap (checks.ts): downtime seen from outside. */
  readonly outsideMs?: number
  /** The volume at B against A's frozen one: `exact` or what differs. */
  readonly check?: string
  /** redis: whether B held the keys A held only in memory. */
  readonly memoryKept?: boolean
  readonly error?: string
}

/** A workload's counted runs. */
export interface WorkloadResult {
  readonly workload: Workload
  readonly data: TreeSummary
  readonly runs: readonly RunResult[]
  readonly load: readonly [MachineLoad, MachineLoad]
}

const MIGRATIONS: readonly MethodId[] = ['a', 'b', 'c', 'd', 'e', 'f']
const TRANSSHIP: readonly MethodId[] = ['c', 'd', 'e', 'f']

/** Prints every table: downtime per workload, bulk copy, peak RSS, then the targets. */
export function printResults(
  results: readonly WorkloadResult[],
  how: { rss: RssMethod; load: readonly [MachineLoad, MachineLoad] },
): void {
  for (const result of results) {
    if (result.workload.id !== 'large') printDowntime(result)
  }
  printBulkCopy(results)
  printPeakRss(results, how.rss)
  printTargets(results, how.load)
}

function of(result: WorkloadResult | undefined, method: MethodId): RunResult[] {
  return result?.runs.filter((run) => run.method === method) ?? []
}

function ok(runs: readonly RunResult[]): (RunResult & { measured: Measured })[] {
  return runs.filter(
    (run): run is RunResult & { measured: Measured } => !run.error && !!run.measured,
  )
}

function medianOf(runs: readonly RunResult[], pick: (run: RunResult) => number | undefined) {
  const values = ok(runs)
    .map(pick)
    .filter((value): value is number => value !== undefined)
  return { median: values.length > 0 ? median(values) : Number.NaN, values }
}

const outside = (run: RunResult) => run.outsideMs
const own = (run: RunResult) => run.measured?.ownMs
const total = (run: RunResult) => run.measured?.totalMs

function fixed(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : '–'
}

function secondsOrDash(ms: number): string {
  return Number.isFinite(ms) ? seconds(ms) : '–'
}

const DOWNTIME: readonly Column[] = [
  { title: 'method', align: 'left' },
  { title: 'outside s' },
  { title: 'min-max' },
  { title: 'own s' },
  { title: 'min-max' },
  { title: '÷(a)' },
  { title: '÷(b)' },
  { title: 'total s' },
  { title: 'checks', align: 'left' },
]

function printDowntime(result: WorkloadResult): void {
  const { workload } = result
  const refA = medianOf(of(result, 'a'), outside).median
  const refB = medianOf(of(result, 'b'), outside).median
  const rows = MIGRATIONS.map((method) => {
    const label = METHOD_LABELS[method]
    if (!workload.methods.includes(method)) {
      return [label, 'n/a', '', '', '', '', '', '', 'cold: the memory would be lost']
    }
    const runs = of(result, method)
    const out = medianOf(runs, outside)
    const mine = medianOf(runs, own)
    const failed = runs.filter((run) => run.error)
    return [
      label,
      secondsOrDash(out.median),
      spread(out.values),
      secondsOrDash(mine.median),
      spread(mine.values),
      fixed(out.median / refA),
      fixed(out.median / refB),
      secondsOrDash(medianOf(runs, total).median),
      [
        ...(failed.length > 0 ? [`FAILED ${failed.length}/${runs.length}`] : []),
        ...checkSummary(runs),
      ].join('; '),
    ]
  })
  const notes = [
    'outside: the heartbeat gap, the last line the container printed at A to the first at B (every 10 ms,',
    'timestamped by the engines’ log drivers): the same measure for every method. own: (a), (b) timestamps',
    'around the docker calls, from the stop/checkpoint request to `docker start` returning; transship its',
    '`summary` event’s downtime.totalMs. ÷(a), ÷(b): outside medians. total: the whole migration (transship:',
    'the CLI process, node + tsx startup included).',
    ...TRANSSHIP.flatMap((method) => partsLine(result, method)),
    ...MIGRATIONS.flatMap((method) => failureLine(result, method)),
    describeLoad(...result.load),
  ]
  printTable(
    `downtime A → B: ${workload.label} (median of ${workload.runs} runs after a warm-up; methods in a new random order each run)`,
    DOWNTIME,
    rows,
    notes,
  )
}

function checkSummary(runs: readonly RunResult[]): string[] {
  const out: string[] = []
  const checked = runs.filter((run) => run.check !== undefined)
  if (checked.length > 0) {
    const exact = checked.filter((run) => run.check?.startsWith('exact')).length
    out.push(
      exact === checked.length
        ? `data exact ${exact}/${checked.length}`
        : `data differs ${checked.length - exact}/${checked.length}: ${checked.find((run) => !run.check?.startsWith('exact'))?.check}`,
    )
  }
  const memory = runs.filter((run) => run.memoryKept !== undefined)
  if (memory.length > 0) {
    const kept = memory.filter((run) => run.memoryKept).length
    out.push(`memory kept ${kept}/${memory.length}`)
  }
  return out
}

function partsLine(result: WorkloadResult, method: MethodId): string[] {
  const runs = ok(of(result, method))
  if (runs.length === 0) return []
  const part = (pick: (m: Measured) => number | undefined) =>
    secondsOrDash(medianOf(runs, (run) => (run.measured ? pick(run.measured) : undefined)).median)
  const stageNames = [...new Set(runs.flatMap((run) => [...(run.measured.stages?.keys() ?? [])]))]
  const stages = stageNames
    .map((stage) => `${stage} ${part((m) => m.stages?.get(stage))}`)
    .join(', ')
  return [
    `${method}: downtime = freeze ${part((m) => m.parts?.checkpointMs)} + transfer ${part((m) => m.parts?.transferMs)} + restore ${part((m) => m.parts?.restoreMs)} s; stages (s): ${stages}`,
  ]
}

function failureLine(result: WorkloadResult, method: MethodId): string[] {
  const failed = of(result, method).filter((run) => run.error)
  return failed.length === 0
    ? []
    : [`${method} failed: ${failed[0]?.error?.split('\n').join(' | ')}`]
}

/** The direct route's full copy, pooled over (c) and (d): the same phase 1 either way. */
function fullCopies(result: WorkloadResult | undefined): RunResult[] {
  return [...of(result, 'c'), ...of(result, 'd')].filter((run) => run.measured?.fullCopy)
}

function printBulkCopy(results: readonly WorkloadResult[]): void {
  const rows: string[][] = []
  for (const result of results.filter((r) => r.workload.methods.includes('tar'))) {
    const tar = medianOf(of(result, 'tar'), own)
    const row = (way: string, values: number[], bytes = result.data.bytes) => {
      const at = values.length > 0 ? median(values) : Number.NaN
      return [
        result.workload.id,
        way,
        secondsOrDash(at),
        spread(values),
        Number.isFinite(at) ? mbPerSecond(bytes, at) : '–',
        fixed(tar.median / at),
      ]
    }
    const full = fullCopies(result)
    const stage = [...of(result, 'c'), ...of(result, 'd')]
      .map((run) => run.measured?.stages?.get('precopy-volumes'))
      .filter((ms): ms is number => ms !== undefined)
    rows.push(
      row('tar c | tar x on the host (reference)', tar.values),
      row(
        'transship phase 1, full copy ((c) and (d))',
        full.map((run) => run.measured?.fullCopy?.ms ?? Number.NaN),
      ),
      row(
        '  of which streaming (first to last progress event)',
        full.map((run) => run.measured?.fullCopy?.streamingMs ?? Number.NaN),
      ),
      row('transship precopy-volumes stage, whole', stage),
    )
  }
  printTable(
    'bulk copy: the direct route’s phase 1 vs `tar c | tar x` of the same volume directory on this host (median)',
    [
      { title: 'workload', align: 'left' },
      { title: 'way', align: 'left' },
      { title: 'seconds' },
      { title: 'min-max' },
      { title: 'MB/s' },
      { title: 'tar/way' },
    ],
    rows,
    [
      'full copy: from the precopy-volumes stage’s start (its --json line arriving here) to the last progress',
      'event of its first round: volumes made, helper containers started, everything sent once. The whole',
      'stage adds the rounds of changes while the source runs. MB/s: file data over the time;',
      'tar/way: the throughput as a share of tar’s (target ≥ 0.8 for 1 GiB, ≥ 0.5 for small files).',
    ],
  )
}

function peakRss(result: WorkloadResult | undefined, method: MethodId) {
  return medianOf(of(result, method), (run) => run.measured?.peakRssKiB)
}

function printPeakRss(results: readonly WorkloadResult[], rss: RssMethod): void {
  const idle = results.find((r) => r.workload.id === 'idle')
  const large = results.find((r) => r.workload.id === 'large')
  const base = peakRss(idle, 'c').median
  const rows = [
    ...(['c', 'd', 'e', 'f'] as const).map((method) => [idle, method] as const),
    [large, 'c'] as const,
  ].map(([result, method]) => {
    const peak = peakRss(result, method)
    return [
      result?.workload.label ?? '?',
      METHOD_LABELS[method],
      String(peak.values.length),
      (peak.median / 1024).toFixed(1),
      fixed(peak.median / base),
    ]
  })
  printTable(
    'peak RSS of the transship migrate process (node + tsx), by volume size and route',
    [
      { title: 'volume', align: 'left' },
      { title: 'method', align: 'left' },
      { title: 'runs' },
      { title: 'peak RSS MiB' },
      { title: 'vs (c) 1 GiB' },
    ],
    rows,
    [`Peak RSS: ${describeRssMethod(rss)}, median of the runs.`],
  )
}

function printTargets(
  results: readonly WorkloadResult[],
  load: readonly [MachineLoad, MachineLoad],
): void {
  const find = (id: Workload['id']) => results.find((r) => r.workload.id === id)
  const rows: string[][] = []
  const ratioTarget = (
    what: string,
    id: Workload['id'],
    method: MethodId,
    reference: MethodId,
    limit: number,
  ) => {
    const result = find(id)
    for (const [measure, pick] of [
      ['outside', outside],
      ['own', own],
    ] as const) {
      const x = medianOf(of(result, method), pick).median
      const y = medianOf(of(result, reference), pick).median
      const r = x / y
      rows.push([
        `${what} (${measure})`,
        `${seconds(x)} s / ${seconds(y)} s = ${fixed(r)} (≤ ${limit})`,
        verdict(r <= limit, r),
      ])
    }
  }
  ratioTarget('cold, idle volume: (c) ≤ 0.25× (a)', 'idle', 'c', 'a', 0.25)
  ratioTarget('checkpoint, idle volume: (d) ≤ 1.2× (b)', 'idle', 'd', 'b', 1.2)
  ratioTarget('checkpoint, redis memory: (d) ≤ 1.2× (b)', 'redis', 'd', 'b', 1.2)
  ratioTarget('writer: (c) ≤ 0.5× (a)', 'writer', 'c', 'a', 0.5)
  for (const method of TRANSSHIP) {
    const checked = of(find('writer'), method).filter((run) => run.check !== undefined)
    const exact = checked.filter((run) => run.check?.startsWith('exact')).length
    rows.push([
      `writer: data exact, ${method}`,
      `${exact} of ${checked.length} runs exact`,
      checked.length === 0 ? 'no data' : exact === checked.length ? 'met' : 'NOT met',
    ])
  }
  for (const [id, limit] of [
    ['idle', 0.8],
    ['small', 0.5],
  ] as const) {
    const result = find(id)
    const tar = medianOf(of(result, 'tar'), own).median
    const values = fullCopies(result).map((run) => run.measured?.fullCopy?.ms ?? Number.NaN)
    const copy = values.length > 0 ? median(values) : Number.NaN
    const r = tar / copy
    rows.push([
      `bulk copy, ${id === 'idle' ? 'idle volume' : 'small files'}: ≥ ${limit}× tar c | tar x`,
      `tar ${secondsOrDash(tar)} s / phase 1 ${secondsOrDash(copy)} s = ${fixed(r)}`,
      verdict(r >= limit, r),
    ])
  }
  const one = peakRss(find('idle'), 'c').median
  const four = peakRss(find('large'), 'c').median
  const r = four / one
  rows.push([
    'peak RSS (c): 4× the volume, the same (within 10%)',
    `${(four / 1024).toFixed(1)} MiB / ${(one / 1024).toFixed(1)} MiB = ${fixed(r)}`,
    verdict(r <= 1.1, r),
  ])
  printTable(
    'targets (issue 13)',
    [
      { title: 'target', align: 'left' },
      { title: 'figures', align: 'left' },
      { title: 'verdict', align: 'left' },
    ],
    rows,
    [
      ...results.map((r) => `${r.workload.id}: ${r.workload.label}`),
      'writer, data exact: the volume at B against A’s frozen one (listings with sha256) after every run;',
      'the references’ rows above show theirs (busybox tar x does not restore directory mtimes).',
      describeLoad(...load),
    ],
  )
}

function verdict(met: boolean, value: number): string {
  if (!Number.isFinite(value)) return 'no data'
  return met ? 'met' : 'NOT met'
}
