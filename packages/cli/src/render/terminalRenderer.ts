import type { MigrationEvent } from '@transship/core'
import { MultiBar, type SingleBar } from 'cli-progress'
import { formatBytes, formatDuration } from './format.js'
import { artifactOf, type Renderer, type SummaryLine, stageLine } from './renderer.js'

/** What a bar shows beside its bytes. */
interface BarPayload {
  readonly artifact: string
  readonly rate: string
  readonly eta: string
}

/**
 * One artifact's line: its name, a bar when its size is known, bytes, rate and ETA.
 *
 * @param width - the bar's width in characters.
 * @param value - bytes done.
 * @param total - bytes expected, 0 when unknown.
 * @param payload - name, rate, ETA.
 * @return the line.
 */
export function barLine(width: number, value: number, total: number, payload: BarPayload): string {
  // Bytes done can pass the size given in advance (a tar stream's headers, a file that
  // grew while it was read): the bar is then full.
  const share = total > 0 ? Math.min(Math.max(value / total, 0), 1) : 0
  const filled = Math.round(share * width)
  const bar = total > 0 ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ` : ''
  const of = total > 0 ? ` / ${formatBytes(total)}` : ''
  return `  ${payload.artifact.padEnd(24)} ${bar}${formatBytes(value)}${of}  ${payload.rate}${payload.eta}`
}

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
      format: (options, params, payload: BarPayload) =>
        barLine(options.barsize ?? 30, params.value, params.total, payload),
    },
    undefined,
  )
  const perArtifact = new Map<string, { bar: SingleBar; started: number }>()
  // cli-progress writes logged lines at its next redraw, and stop() does not redraw: the
  // lines logged since the last one (the last stages) would be lost.
  const stop = () => {
    bars.update()
    bars.stop()
  }
  return {
    event(event: MigrationEvent) {
      switch (event.type) {
        case 'stage-started':
        case 'stage-finished':
        case 'warning':
        case 'hook':
          bars.log(`${stageLine(event)}\n`)
          break
        case 'progress': {
          const artifact = artifactOf(event)
          const key = `${event.stage}:${artifact}`
          let entry = perArtifact.get(key)
          if (!entry) {
            const bar = bars.create(event.bytesTotal ?? 0, 0, {
              artifact,
              rate: '',
              eta: '',
            })
            entry = { bar, started: Date.now() }
            perArtifact.set(key, entry)
          }
          if (event.bytesTotal !== undefined && event.bytesTotal !== entry.bar.getTotal()) {
            entry.bar.setTotal(event.bytesTotal)
          }
          const seconds = Math.max((Date.now() - entry.started) / 1000, 0.001)
          const rate = event.bytesDone / seconds
          const eta =
            event.bytesTotal !== undefined && rate > 0
              ? `  ETA ${formatDuration((Math.max(event.bytesTotal - event.bytesDone, 0) / rate) * 1000)}`
              : ''
          entry.bar.update(event.bytesDone, {
            artifact,
            rate: `${formatBytes(rate)}/s`,
            eta,
          })
          break
        }
        case 'summary':
          stop()
          out.write(`${summaryLine(event)}\n`)
          break
      }
    },
    close() {
      stop()
    },
  }
}
