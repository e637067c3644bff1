import type { Downtime, MigrationState } from './state.js'

/** A stage began. */
export interface StageStartedEvent {
  readonly type: 'stage-started'
  /** The group member it is about, in a group's run (`migrate --project`). */
  readonly container?: string
  readonly stage: string
}

/** A stage ended successfully. */
export interface StageFinishedEvent {
  readonly type: 'stage-finished'
  /** The group member it is about, in a group's run (`migrate --project`). */
  readonly container?: string
  readonly stage: string
  readonly durationMs: number
}

/** Bytes moved for one artifact. `bytesTotal` is known when the size was known up front. */
export interface ProgressEvent {
  readonly type: 'progress'
  /** The group member it is about, in a group's run (`migrate --project`). */
  readonly container?: string
  readonly stage: string
  /** What moves, e.g. `volume data`. */
  readonly artifact: string
  readonly bytesDone: number
  readonly bytesTotal?: number
}

/** Something not carried, or carried differently, and why. Also recorded in the manifest. */
export interface WarningEvent {
  readonly type: 'warning'
  /** The group member it is about, in a group's run (`migrate --project`). */
  readonly container?: string
  readonly stage: string
  readonly message: string
}

/** A user's command ran in a container: a pre-freeze or post-restore hook. */
export interface HookEvent {
  readonly type: 'hook'
  /** The group member it is about, in a group's run (`migrate --project`). */
  readonly container?: string
  readonly stage: string
  /** `pre-freeze` (in the source) or `post-restore` (in the target). */
  readonly hook: string
  readonly command: string
  readonly exitCode: number
  /** Its stdout and stderr, interleaved (the tail of a long one). */
  readonly output: string
  readonly durationMs: number
}

/** The migration state after a stage: what the next stage works on. */
export interface StateEvent {
  readonly type: 'state'
  readonly state: MigrationState
}

/** The end of a whole backup, restore or migration: what happened, for the user. */
export interface SummaryEvent {
  readonly type: 'summary'
  /** The backup's URL (`<transport URL>/<backup id>`), when a backup was taken or read. */
  readonly backupUrl?: string
  /** Whether the staged backup still exists. */
  readonly backupKept?: boolean
  /** The target container, when one was created. */
  readonly target?: { readonly engine: string; readonly id: string; readonly name: string }
  /** How long the container did not run, when it was frozen (stopped or checkpointed) and started again. */
  readonly downtime?: Downtime
  /** Bytes stored or read through the transport. */
  readonly bytes: number
  readonly durationMs: number
  readonly warnings: readonly string[]
  /** A group's run: each member's target and downtime, in dependency order. */
  readonly members?: readonly MemberSummary[]
}

/** One container of a group, at the end of the group's run. */
export interface MemberSummary {
  readonly container: string
  readonly target?: { readonly engine: string; readonly id: string; readonly name: string }
  readonly downtime?: Downtime
}

/**
 * What a pipeline emits: typed events a CLI or a custom pipeline observes, with the
 * migration state travelling among them as `state` events.
 */
export type MigrationEvent =
  | StageStartedEvent
  | StageFinishedEvent
  | ProgressEvent
  | WarningEvent
  | HookEvent
  | StateEvent
  | SummaryEvent
