/** A column of {@link printTable}: text columns align left, numbers right. */
export interface Column {
  readonly title: string
  readonly align?: 'left' | 'right'
}

/**
 * Prints a table on stdout: a title line, a header, and the rows, columns padded to
 * their widest cell.
 *
 * @param title - what the table measures.
 * @param columns - the header.
 * @param rows - one cell per column; `''` for none.
 * @param notes - lines printed under the table: how it was measured, conditions.
 */
export function printTable(
  title: string,
  columns: readonly Column[],
  rows: readonly string[][],
  notes: readonly string[] = [],
) {
  const widths = columns.map((column, index) =>
    Math.max(column.title.length, ...rows.map((row) => (row[index] ?? '').length)),
  )
  const line = (cells: readonly string[]) =>
    columns
      .map((column, index) => {
        const cell = cells[index] ?? ''
        const width = widths[index] ?? 0
        return column.align === 'left' ? cell.padEnd(width) : cell.padStart(width)
      })
      .join('  ')
      .trimEnd()
  const out = [
    '',
    title,
    line(columns.map((column) => column.title)),
    line(widths.map((width) => '-'.repeat(width))),
    ...rows.map(line),
    ...notes,
    '',
  ]
  process.stdout.write(`${out.join('\n')}\n`)
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  const upper = sorted[middle] ?? Number.NaN
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? Number.NaN) + upper) / 2
}

/** Seconds with two decimals, from milliseconds. */
export function seconds(ms: number): string {
  return (ms / 1000).toFixed(2)
}

/** `min–max` seconds of several runs, or `''` for one. */
export function spread(ms: readonly number[]): string {
  if (ms.length < 2) return ''
  return `${seconds(Math.min(...ms))}–${seconds(Math.max(...ms))}`
}

/** Throughput in MB/s (10^6 bytes). */
export function mbPerSecond(bytes: number, ms: number): string {
  return (bytes / 1e6 / (ms / 1000)).toFixed(1)
}

/** A ratio with two decimals. */
export function ratio(numerator: number, denominator: number): string {
  return (numerator / denominator).toFixed(2)
}

/** Bytes in binary units: `1.00 GiB`, `256 MiB`, `4.0 KiB`. */
export function binaryBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit += 1
  }
  return `${Number.isInteger(value) ? value : value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`
}
