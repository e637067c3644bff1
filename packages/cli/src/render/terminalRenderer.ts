import type { MigrationEvent } from '@transship/core'
import { MultiBar, type SingleBar } from 'cli-progress'
import { formatBytes, formatDuration } from './format.js'
import { type Renderer, type SummaryLine, stageLine } from './renderer.js'

/**
 * A live display on a terminal: a bar per artifact with bytes, rate and ETA (when the size
 * is known), stage lines above the bars; the summary line on stdout.
 */
export function terminalRenderer(
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
  summaryLine: SummaryLine,
): Renderer {
  const bars = new MultiBar(
    {
      stream: err,
      hideCursor: true,
      clearOnComplete: false,
      format: (options, params, payload: { artifact: string; rate: string; eta: string }) => {
        const width = options.barsize ?? 30
        const filled = params.total > 0 ? Math.round((params.value / params.total) * width) : 0
        const bar = params.total > 0 ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ` : ''
        const total = params.total > 0 ? ` / ${formatBytes(params.total)}` : ''
        return `  ${payload.artifact.padEnd(24)} ${bar}${formatBytes(params.value)}${total}  ${payload.rate}${payload.eta}`
      },
    },
    undefined,
  )
  const perArtifact = new Map<string, { bar: SingleBar; started: number }>()
  return {
    event(event: MigrationEvent) {
      switch (event.type) {
        case 'stage-started':
        case 'stage-finished':
        case 'warning':
          bars.log(`${stageLine(event)}\n`)
          break
        case 'progress': {
          const key = `${event.stage}:${event.artifact}`
          let entry = perArtifact.get(key)
          if (!entry) {
            const bar = bars.create(event.bytesTotal ?? 0, 0, {
              artifact: event.artifact,
              rate: '',
              eta: '',
            })
            entry = { bar, started: Date.now() }
            perArtifact.set(key, entry)
          }
          const seconds = Math.max((Date.now() - entry.started) / 1000, 0.001)
          const rate = event.bytesDone / seconds
          const eta =
            event.bytesTotal !== undefined && rate > 0
              ? `  ETA ${formatDuration(((event.bytesTotal - event.bytesDone) / rate) * 1000)}`
              : ''
          entry.bar.update(event.bytesDone, {
            artifact: event.artifact,
            rate: `${formatBytes(rate)}/s`,
            eta,
          })
          break
        }
        case 'summary':
          bars.stop()
          out.write(`${summaryLine(event)}\n`)
          break
      }
    },
    close() {
      bars.stop()
    },
  }
}
