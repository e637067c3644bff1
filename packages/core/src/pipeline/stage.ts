import { performance } from 'node:perf_hooks'
import { concatMap, type MonoTypeOperatorFunction, Observable, of } from 'rxjs'
import { messageOf, TransshipError } from '../errors.js'
import { type RollbackReport, rollBack } from '../ledger/rollBack.js'
import { withinRun } from '../ledger/runContext.js'
import type { UndoRecord } from '../ledger/undoSteps.js'
import type { HookEvent, MigrationEvent } from './events.js'
import type { MigrationState } from './state.js'

/** What a stage's work gets besides the state. */
export interface StageContext {
  /** Aborted when the pipeline is unsubscribed or interrupted: pass it to every call. */
  readonly signal: AbortSignal
  /** Reports something not carried, or carried differently; it also goes into the manifest. */
  warn(message: string): void
  /** Reports a user's command that ran in a container (a hook): its exit code, output, time. */
  hookRan(hook: Omit<HookEvent, 'type' | 'stage'>): void
  /** Reports bytes moved for one artifact (throttled here, so call it per chunk). */
  progress(artifact: string, bytesDone: number, bytesTotal?: number): void
  /**
   * Records in the run's ledger how to take back a change about to be made (write-ahead:
   * await it, then make the change). If the stage fails, its own changes are taken back
   * at once; if it succeeds, they stay in the ledger, for a later failure or `transship
   * recover`.
   */
  undoable(record: UndoRecord): Promise<void>
}

/** A stage's failure: the cause, which stage, and the state it started from. */
export class StageFailure extends TransshipError {
  /** The stage that failed. */
  readonly stage: string
  /** The state the stage started from; its ledger takes back the earlier stages' changes. */
  readonly state: MigrationState

  constructor(stage: string, state: MigrationState, cause: unknown, own: RollbackReport) {
    const code = cause instanceof TransshipError ? cause.code : 'STAGE_FAILED'
    const undo = own.problems.length > 0 ? ` (could not undo: ${own.problems.join('; ')})` : ''
    super(code, `${stage} failed: ${plainMessage(cause)}${undo}`, { cause })
    this.name = 'StageFailure'
    this.stage = stage
    this.state = state
  }
}

const PROGRESS_INTERVAL_MS = 200

/**
 * Makes a pipeline stage: an RxJS operator that lets every event through, and runs `work`
 * on each `state` event, emitting `stage-started`, progress and warnings, `stage-finished`
 * and the new state. Unsubscribing aborts `work`'s calls (through `context.signal`) and
 * takes back what it recorded with `context.undoable`.
 *
 * ## Example
 * ```ts
 * const announce = (url: string) =>
 *   defineStage('announce', async (state, { signal }) => {
 *     await fetch(url, { method: 'POST', body: state.id, signal })
 *     return state
 *   })
 * ```
 *
 * @param name - the stage's name, in events and errors.
 * @param work - the stage's work: returns the new state, or throws.
 * @return the operator.
 */
export function defineStage(
  name: string,
  work: (state: MigrationState, context: StageContext) => Promise<MigrationState>,
): MonoTypeOperatorFunction<MigrationEvent> {
  return concatMap((event) =>
    event.type === 'state' ? runStage(name, event.state, work) : of(event),
  )
}

function runStage(
  name: string,
  state: MigrationState,
  work: (state: MigrationState, context: StageContext) => Promise<MigrationState>,
): Observable<MigrationEvent> {
  return new Observable<MigrationEvent>((subscriber) => {
    const controller = new AbortController()
    const interrupt = () => controller.abort(new TransshipError('INTERRUPTED', 'interrupted'))
    if (state.signal?.aborted) interrupt()
    state.signal?.addEventListener('abort', interrupt, { once: true })

    const started = performance.now()
    const recorded = new Set<string>()
    const warnings: string[] = []
    const lastProgress = new Map<string, { at: number; bytesDone: number }>()
    subscriber.next({ type: 'stage-started', stage: name })

    const context: StageContext = {
      signal: controller.signal,
      warn(message) {
        warnings.push(message)
        subscriber.next({ type: 'warning', stage: name, message })
      },
      hookRan(hook) {
        subscriber.next({ type: 'hook', stage: name, ...hook })
      },
      progress(artifact, bytesDone, bytesTotal) {
        const now = performance.now()
        const last = lastProgress.get(artifact)
        if (last?.bytesDone === bytesDone) return
        const done = bytesTotal !== undefined && bytesDone >= bytesTotal
        if (!done && last && now - last.at < PROGRESS_INTERVAL_MS) return
        lastProgress.set(artifact, { at: now, bytesDone })
        subscriber.next({
          type: 'progress',
          stage: name,
          artifact,
          bytesDone,
          ...(bytesTotal === undefined ? {} : { bytesTotal }),
        })
      },
      async undoable(record) {
        recorded.add(record.key)
        await state.ledger.record(record)
      },
    }

    const working = withinRun(state.ledger, () => work(state, context))
    const settled = Promise.race([working, givenUp(controller.signal)]).then(
      (next) => {
        subscriber.next({
          type: 'stage-finished',
          stage: name,
          durationMs: Math.round(performance.now() - started),
        })
        subscriber.next({
          type: 'state',
          state: {
            ...next,
            warnings: [...next.warnings, ...warnings.map((message) => ({ stage: name, message }))],
          },
        })
        subscriber.complete()
      },
      async (error: unknown) => {
        const own = await rollBack(state.ledger, { keys: recorded })
        subscriber.error(new StageFailure(name, state, controller.signal.reason ?? error, own))
      },
    )
    state.ledger.track(settled)

    return () => {
      state.signal?.removeEventListener('abort', interrupt)
      controller.abort(new TransshipError('INTERRUPTED', `${name} was unsubscribed`))
    }
  })
}

/** How long an interrupted stage's work may take to end before the stage fails anyway. */
const INTERRUPT_GRACE_MS = 10_000

/**
 * Rejects with the abort's reason {@link INTERRUPT_GRACE_MS} after `signal` aborts: a call
 * that cannot be aborted (an engine that stopped answering) must not hold the rollback.
 */
function givenUp(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener(
      'abort',
      () => setTimeout(() => reject(signal.reason), INTERRUPT_GRACE_MS).unref(),
      { once: true },
    )
  })
}

/** An error's message without the `[transship] ` prefix, for composing messages. */
export function plainMessage(error: unknown): string {
  return messageOf(error).replace(/^\[transship\] /, '')
}
