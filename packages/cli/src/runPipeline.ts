import type { DurableLedgerOptions, Ledger, MigrationEvent } from '@transship/core'
import type { Observable } from 'rxjs'
import { loadCore } from './loadCore.js'
import { jsonRenderer, plainRenderer, type Renderer, type SummaryLine } from './render/renderer.js'

/** How a command shows its events. */
export interface OutputFlags {
  readonly json?: boolean
}

/** The signals that interrupt a run: each starts the rollback. */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/**
 * Runs a pipeline to its end, showing its events: `--json` lines, a live display on a
 * terminal, plain lines otherwise. The run's changes go into a durable ledger under the
 * state directory, so that `transship recover` can finish what a crash leaves. SIGINT,
 * SIGTERM and SIGHUP interrupt it through `signal`, so the pipeline puts everything back
 * before it fails; a second one says the rollback runs and is otherwise ignored; a third
 * exits at once, leaving the rest to `transship recover`.
 *
 * @param run - the ledger's record of the run.
 * @param makePipeline - builds the pipeline with the interrupt signal and the ledger.
 * @param flags - output choice.
 * @param summaryLine - the line printed on stdout on success.
 */
export async function runPipeline(
  run: DurableLedgerOptions,
  makePipeline: (signal: AbortSignal, ledger: Ledger) => Observable<MigrationEvent>,
  flags: OutputFlags,
  summaryLine: SummaryLine,
): Promise<void> {
  const { Ledger } = await loadCore()
  const ledger = await Ledger.durable(run)
  const renderer = await chooseRenderer(flags, summaryLine)
  const controller = new AbortController()
  let signals = 0
  const interrupt = (signal: NodeJS.Signals) => {
    signals++
    if (signals === 1) {
      controller.abort()
    } else if (signals === 2) {
      process.stderr.write(
        `[transship] ${signal}: putting back what was done; once more exits at once and leaves the rest to \`transship recover ${ledger.id}\`\n`,
      )
    } else {
      process.stderr.write(
        `[transship] ${signal}: exiting; \`transship recover ${ledger.id}\` brings the migration to a safe end\n`,
      )
      process.exit(130)
    }
  }
  for (const signal of SIGNALS) process.on(signal, interrupt)
  try {
    await new Promise<void>((resolve, reject) => {
      makePipeline(controller.signal, ledger).subscribe({
        next: (event) => renderer.event(event),
        error: reject,
        complete: resolve,
      })
    })
  } finally {
    for (const signal of SIGNALS) process.off(signal, interrupt)
    renderer.close()
  }
}

async function chooseRenderer(flags: OutputFlags, summaryLine: SummaryLine): Promise<Renderer> {
  if (flags.json) return jsonRenderer(process.stdout)
  if (!process.stderr.isTTY) return plainRenderer(process.stdout, process.stderr, summaryLine)
  // Loaded here, not at start-up, as @transship/core is (see loadCore.ts): only a terminal
  // needs cli-progress.
  const { terminalRenderer } = await import('./render/terminalRenderer.js')
  return terminalRenderer(process.stdout, process.stderr, summaryLine)
}
