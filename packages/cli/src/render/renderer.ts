import type {
  HookEvent,
  MigrationEvent,
  ProgressEvent,
  StageFinishedEvent,
  StageStartedEvent,
  SummaryEvent,
  WarningEvent,
} from '@transship/core'
import { formatBytes, formatDuration } from './format.js'

/** The line a stage event shows as, on a terminal or in a log. */
export function stageLine(
  event: StageStartedEvent | StageFinishedEvent | WarningEvent | HookEvent,
): string {
  // In a group's run, each line names the container it is about.
  return event.container === undefined
    ? ownLine(event)
    : `${event.container}: ${ownLine(event).trimStart()}`
}

function ownLine(event: StageStartedEvent | StageFinishedEvent | WarningEvent | HookEvent): string {
  switch (event.type) {
    case 'stage-started':
      return `${event.stage}...`
    case 'stage-finished':
      return `${event.stage}: done in ${formatDuration(event.durationMs)}`
    case 'warning':
      return `warning: ${event.message}`
    case 'hook': {
      const output = event.output.trim()
      return `  ${event.hook} hook \`${event.command}\`: exit code ${event.exitCode} in ${formatDuration(event.durationMs)}${output ? `\n${indent(output)}` : ''}`
    }
  }
}

/** What a progress event moves, with its container in a group's run. */
export function artifactOf(event: ProgressEvent): string {
  return event.container === undefined ? event.artifact : `${event.container} ${event.artifact}`
}

/** A command's output, indented under its line. */
function indent(output: string): string {
  return output
    .split('\n')
    .map((line) => `    | ${line}`)
    .join('\n')
}

/** Shows a pipeline's events to the user. */
export interface Renderer {
  event(event: MigrationEvent): void
  /** Called once the pipeline ended, successfully or not. */
  close(): void
}

/** What a command prints on stdout once it succeeded. */
export type SummaryLine = (summary: SummaryEvent) => string

/**
 * `--json`: one JSON object per event on stdout (the state, internal, is left out); the
 * last one is the summary.
 */
export function jsonRenderer(out: NodeJS.WritableStream): Renderer {
  return {
    event(event) {
      if (event.type !== 'state') out.write(`${JSON.stringify(event)}\n`)
    },
    close() {},
  }
}

const PLAIN_PROGRESS_INTERVAL_MS = 5000

/**
 * Plain lines on stderr when it is not a terminal (logs, CI), progress every few
 * seconds; the summary line on stdout.
 */
export function plainRenderer(
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
  summaryLine: SummaryLine,
): Renderer {
  const lastProgress = new Map<string, number>()
  return {
    event(event) {
      switch (event.type) {
        case 'stage-started':
        case 'stage-finished':
        case 'warning':
        case 'hook':
          err.write(`${stageLine(event)}\n`)
          break
        case 'progress': {
          const now = Date.now()
          const done = event.bytesTotal !== undefined && event.bytesDone >= event.bytesTotal
          const artifact = artifactOf(event)
          if (!done && now - (lastProgress.get(artifact) ?? 0) < PLAIN_PROGRESS_INTERVAL_MS) break
          lastProgress.set(artifact, now)
          const total = event.bytesTotal === undefined ? '' : ` of ${formatBytes(event.bytesTotal)}`
          err.write(`  ${artifact}: ${formatBytes(event.bytesDone)}${total}\n`)
          break
        }
        case 'summary':
          out.write(`${summaryLine(event)}\n`)
          break
      }
    },
    close() {},
  }
}
