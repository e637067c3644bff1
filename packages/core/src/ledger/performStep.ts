import { type EngineClient, ignoringNotFound, notFoundAsUndefined } from '../engine/client.js'
import { messageOf, TransshipError } from '../errors.js'
import { resumeSource } from '../stages/checkpoint/resumeSource.js'
import { removeImage } from '../stages/image/images.js'
import { restoreSource } from '../stages/restoreSource.js'
import type { Transport } from '../transport/contract.js'
import type { Ledger, LedgerEntry } from './ledger.js'
import { releaseLocksOf } from './sourceLock.js'
import { describeStep, type UndoStep } from './undoSteps.js'

/** How long one undo step may take before the rollback gives up on it and goes on. */
export const UNDO_STEP_TIMEOUT_MS = 60_000

/** Reaches the engines and transports the ledger names by URL. */
export interface LedgerResolver {
  engine(url: string): Promise<EngineClient>
  transport(url: string): Promise<Transport>
}

/**
 * Takes one change back. Every step may find its object already gone (it was recorded
 * before it was made, or undone by an earlier attempt): that is success.
 *
 * @param step - the step.
 * @param resolver - reaches its engine or transport.
 * @throws the engine's or transport's error; `TARGET_RUNS` when a container known by name
 *   only (recorded before the engine made it) runs: this migration never started it.
 */
export async function performStep(step: UndoStep, resolver: LedgerResolver): Promise<void> {
  if (step.kind === 'remove-artifact') {
    await (await resolver.transport(step.transport)).remove(step.key)
    return
  }
  const engine = await resolver.engine(step.engine)
  switch (step.kind) {
    case 'remove-container':
      await removeContainer(engine, step)
      return
    case 'remove-network':
      await ignoringNotFound(
        engine.call(`remove network ${step.name}`, (docker) =>
          docker.getNetwork(step.name).remove(),
        ),
      )
      return
    case 'remove-volume':
      await ignoringNotFound(
        engine.call(`remove volume ${step.name}`, (docker) => docker.getVolume(step.name).remove()),
      )
      return
    case 'remove-image':
      await removeImage(engine, step.image)
      return
    case 'release-locks':
      await releaseLocksOf(engine, step.migration)
      return
    case 'restart-source':
      if (step.running && step.checkpoint) {
        const imageId = await imageOf(engine, step.id)
        await resumeSource(engine, { ...step, imageId }, step.checkpoint)
      } else {
        await restoreSource(engine, step)
      }
      return
  }
}

async function removeContainer(
  engine: EngineClient,
  step: Extract<UndoStep, { kind: 'remove-container' }>,
): Promise<void> {
  if (step.id !== undefined) {
    await ignoringNotFound(engine.removeContainer(step.id))
    return
  }
  if (step.name === undefined) return
  // Recorded before the engine made it, and not known by id: this migration never
  // started it. One that runs under that name is someone else's.
  const found = await engine.inspectContainer(step.name).catch(notFoundAsUndefined)
  if (!found) return
  if (found.State.Running) {
    throw new TransshipError(
      'TARGET_RUNS',
      `container ${step.name} on ${step.engine} runs, and this migration never started it: left as it is`,
    )
  }
  await ignoringNotFound(engine.removeContainer(found.Id))
}

async function imageOf(engine: EngineClient, id: string): Promise<string> {
  return (await engine.inspectContainer(id)).Image
}

/** What {@link performEntries} did. */
export interface PerformedEntries {
  /** The steps done, in order. */
  readonly done: readonly string[]
  /** The steps that failed, each with why: they stay in the ledger. */
  readonly problems: readonly string[]
}

/**
 * Performs ledger entries one after another, going on past failures: each one done is
 * settled in the ledger (as `how`), each failed or timed-out one stays, for `transship
 * recover`.
 *
 * @param ledger - the run's ledger.
 * @param entries - which entries, in the order to perform them.
 * @param how - how a done entry is settled: `undone` (taken back) or `dropped`.
 * @param resolver - reaches their engines and transports.
 * @param timeoutMs - per step.
 * @return what was done, what was not.
 */
export async function performEntries(
  ledger: Ledger,
  entries: readonly LedgerEntry[],
  how: 'undone' | 'dropped',
  resolver: LedgerResolver,
  timeoutMs: number,
): Promise<PerformedEntries> {
  const done: string[] = []
  const problems: string[] = []
  for (const entry of entries) {
    const description = describeStep(entry.step)
    try {
      await withTimeout(performStep(entry.step, resolver), timeoutMs, description)
      await ledger.settle(entry.key, how)
      done.push(description)
    } catch (error) {
      problems.push(`${description}: ${messageOf(error)}`)
    }
  }
  return { done, problems }
}

/**
 * `work`, or `UNDO_TIMEOUT` once `timeoutMs` has passed (the work itself is left to end
 * on its own: a call that cannot be aborted must not hold the rollback).
 */
export function withTimeout<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new TransshipError('UNDO_TIMEOUT', `${what} did not finish within ${timeoutMs / 1000} s`),
        ),
      timeoutMs,
    )
    timer.unref()
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}
