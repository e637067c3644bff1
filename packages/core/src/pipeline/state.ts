import { Ledger } from '../ledger/ledger.js'
import type {
  Artifact,
  CheckpointRecord,
  ImageRecord,
  LayerRecord,
  Manifest,
  SkippedMount,
  SourceContainer,
  VolumeRecord,
  Warning,
} from '../manifest/schema.js'
import type { TreeEnd, TreeSource } from '../precopy/treeSource.js'

/** The container created at the destination. */
export interface TargetRecord {
  readonly engine: string
  readonly id: string
  readonly name: string
}

/**
 * How long the container did not run: from the freeze (the stop or checkpoint request) to
 * the target's start returning, in milliseconds, and its parts, which add up to the total.
 */
export interface Downtime {
  readonly totalMs: number
  /** How the source was frozen: `checkpoint` (CRIU's dump), or `stop` (a cold migration). */
  readonly frozenBy: Freeze['by']
  /** The freeze itself: CRIU's dump, or for a cold migration the stop. */
  readonly checkpointMs: number
  /** From the freeze's end to the restore's start: what moves while the source is frozen. */
  readonly transferMs: number
  /** Starting the target (from the checkpoint: putting it in place, then the start). */
  readonly restoreMs: number
}

/** When the source was frozen (stopped, or checkpointed), as this process saw it. */
export interface Freeze {
  readonly by: 'checkpoint' | 'stop'
  /** When the stop or checkpoint was requested (`Date.now()`). */
  readonly at: number
  /** How long the stop or checkpoint took, in milliseconds. */
  readonly durationMs: number
}

/** A tree (a volume, the container layer) whose copy began while the source ran. */
export interface PrecopiedTree {
  /** The tree at the source, which remembers what was sent. */
  readonly source: TreeSource
  /** The tree at the destination, when the route has one. */
  readonly destination?: TreeEnd
}

/**
 * What a migration knows so far. Stages never change a state: each returns a new one.
 * The backup half fills it from the source engine; the restore half from a manifest.
 */
export interface MigrationState {
  /** The backup's id, also its key prefix in the transport; set by the first stage. */
  readonly id?: string
  /** When the pipeline started (`Date.now()`). */
  readonly startedAt: number
  /** Aborting it interrupts the pipeline: the running stage undoes its work and fails. */
  readonly signal?: AbortSignal
  readonly source?: SourceContainer
  readonly volumes: readonly VolumeRecord[]
  readonly skippedMounts: readonly SkippedMount[]
  readonly artifacts: readonly Artifact[]
  /** The container layer, once backed up (or read from the manifest). */
  readonly layer?: LayerRecord
  /** The image, when it travels with the backup. */
  readonly image?: ImageRecord
  /** The checkpoint of the running source, once taken (or read from the manifest). */
  readonly checkpoint?: CheckpointRecord
  /** Set by the stage that stops or checkpoints the running source. */
  readonly freeze?: Freeze
  /** Set once the target runs again after a freeze. */
  readonly downtime?: Downtime
  readonly warnings: readonly Warning[]
  /** The manifest, once written (backup) or read (restore). */
  readonly manifest?: Manifest
  /** Where the backup is stored: `<transport URL>/<id>`. */
  readonly backupUrl?: string
  /** Whether the staged backup was removed after a successful restore. */
  readonly backupRemoved?: boolean
  /** Volume names at the destination, by source volume name. */
  readonly restoredVolumes: Readonly<Record<string, string>>
  readonly target?: TargetRecord
  /**
   * Volumes whose copy began while the source ran (the pre-copy), by source volume name,
   * for the round after the freeze. Held in memory only; never in a manifest.
   */
  readonly precopied?: ReadonlyMap<string, PrecopiedTree>
  /** The container layer, when its copy began while the source ran; in memory only. */
  readonly precopiedLayer?: PrecopiedTree
  /**
   * The run's undo ledger: how to take back every change made so far. One object for the
   * whole run (every state holds the same), written to as stages go.
   */
  readonly ledger: Ledger
  /**
   * A group's members (a compose project, or containers moved together), dependencies
   * first, each with its own state; set on a group's state only (see `group/eachMember.ts`).
   */
  readonly members?: readonly MemberState[]
}

/** A container of a group, and its migration's state. */
export interface MemberState {
  /** Its name at the source. */
  readonly container: string
  /** Its id at the source (a group restored from a backup learns it from the member's manifest). */
  readonly id?: string
  readonly state: MigrationState
}

/** Options of {@link initialState}. */
export interface InitialStateOptions {
  /** The backup id (restore knows it; a backup makes one up). */
  readonly id?: string
  /** Interrupts the pipeline when aborted. */
  readonly signal?: AbortSignal
  /** The run's undo ledger (default: one in memory only). */
  readonly ledger?: Ledger
  /** Known before the first stage (a compression other than the one asked for). */
  readonly warnings?: readonly Warning[]
}

/**
 * The state a pipeline starts from.
 *
 * @param options - backup id, abort signal, ledger, warnings.
 * @return an empty state.
 */
export function initialState(options: InitialStateOptions = {}): MigrationState {
  return {
    ...(options.id === undefined ? {} : { id: options.id }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    startedAt: Date.now(),
    volumes: [],
    skippedMounts: [],
    artifacts: [],
    warnings: [...(options.warnings ?? [])],
    restoredVolumes: {},
    ledger: options.ledger ?? Ledger.inMemory(),
  }
}
