import type { MigrationEvent } from '@transship/core'
import type { Observable } from 'rxjs'
import { jsonRenderer, plainRenderer, type Renderer, type SummaryLine } from './render/renderer.js'
import { terminalRenderer } from './render/terminalRenderer.js'

/** How a command shows its events. */
export interface OutputFlags {
  readonly json?: boolean
}

/**
 * Runs a pipeline to its end, showing its events: `--json` lines, a live display on a
 * terminal, plain lines otherwise. Ctrl-C interrupts it through `signal`, so the pipeline
 * puts everything back before it fails.
 *
 * @param makePipeline - builds the pipeline with the interrupt signal.
 * @param flags - output choice.
 * @param summaryLine - the line printed on stdout on success.
 */
export async function runPipeline(
  makePipeline: (signal: AbortSignal) => Observable<MigrationEvent>,
  flags: OutputFlags,
  summaryLine: SummaryLine,
): Promise<void> {
  const renderer = chooseRenderer(flags, summaryLine)
  const controller = new AbortController()
  const interrupt = () => controller.abort()
  process.once('SIGINT', interrupt)
  process.once('SIGTERM', interrupt)
  try {
    await new Promise<void>((resolve, reject) => {
      makePipeline(controller.signal).subscribe({
        next: (event) => renderer.event(event),
        error: reject,
        complete: resolve,
      })
    })
  } finally {
    process.off('SIGINT', interrupt)
    process.off('SIGTERM', interrupt)
    renderer.close()
  }
}

function chooseRenderer(flags: OutputFlags, summaryLine: SummaryLine): Renderer {
  if (flags.json) return jsonRenderer(process.stdout)
  return process.stderr.isTTY
    ? terminalRenderer(process.stdout, process.stderr, summaryLine)
    : plainRenderer(process.stdout, process.stderr, summaryLine)
}
