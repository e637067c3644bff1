import { ignoringNotFound } from '../engine/client.js'
import { messageOf } from '../errors.js'
import type { Ledger, LedgerEntry } from './ledger.js'
import type { LedgerBegin } from './ledgerFile.js'
import {
  type LedgerResolver,
  type PerformedEntries,
  performEntries,
  performStep,
  withTimeout,
} from './performStep.js'

/** Options of {@link rollForward}. */
export interface RollForwardOptions {
  /** Reaches what the steps name. */
  readonly resolver: LedgerResolver
  /** Per step. */
  readonly timeoutMs: number
}

/**
 * Finishes a migration whose target runs, as its own process would have after the start
 * (`transship recover`'s roll forward): records it as committed, removes the staged
 * backup unless the run kept it, removes the source's checkpoint (the processes' memory)
 * unless kept, and removes the source when the run was to. The source
 * itself stays stopped: the target has taken over. Locks are left to `endRun`.
 *
 * @param ledger - the migration's ledger.
 * @param onSuccess - what the run was to do once its target ran (its `begin` record).
 * @param options - how to reach the engines and transports, the timeout per step.
 * @return what was done (a kept backup is named there), and what could not be.
 */
export async function rollForward(
  ledger: Ledger,
  onSuccess: LedgerBegin['onSuccess'],
  options: RollForwardOptions,
): Promise<PerformedEntries> {
  await ledger.commit()
  const done: string[] = []
  const problems: string[] = []
  // Newest first: the manifest, written last, goes first, so that a removal cut short
  // never leaves something that looks like a whole backup.
  const artifacts = ledger.entries
    .filter((entry) => entry.step.kind === 'remove-artifact')
    .reverse()
  if (onSuccess?.removeStaging) {
    const removed = await performEntries(
      ledger,
      artifacts,
      'dropped',
      options.resolver,
      options.timeoutMs,
    )
    done.push(...removed.done)
    problems.push(...removed.problems)
  } else {
    for (const place of stagedBackups(artifacts)) {
      done.push(`kept the staged backup ${place}`)
    }
  }
  const source = ledger.entries.find((entry) => entry.step.kind === 'restart-source')?.step
  if (onSuccess?.removeCheckpoint && source?.kind === 'restart-source' && source.checkpoint) {
    const { checkpoint } = source
    const description = `remove checkpoint ${checkpoint} of ${source.name} on ${source.engine}`
    try {
      const engine = await options.resolver.engine(source.engine)
      await withTimeout(
        ignoringNotFound(engine.removeCheckpoint(source.id, checkpoint)),
        options.timeoutMs,
        description,
      )
      done.push(description)
    } catch (error) {
      problems.push(`${description}: ${messageOf(error)}`)
    }
  }
  if (onSuccess?.removeSource && source?.kind === 'restart-source') {
    const description = `remove the source ${source.name} on ${source.engine}`
    try {
      const step = { kind: 'remove-container', engine: source.engine, id: source.id } as const
      await withTimeout(performStep(step, options.resolver), options.timeoutMs, description)
      done.push(description)
    } catch (error) {
      problems.push(`${description}: ${messageOf(error)}`)
    }
  }
  return { done, problems }
}

/** Each staged backup the artifacts belong to: `<transport URL>/<backup id>`. */
function stagedBackups(entries: readonly LedgerEntry[]): Set<string> {
  const places = new Set<string>()
  for (const { step } of entries) {
    if (step.kind !== 'remove-artifact') continue
    places.add(`${step.transport.replace(/\/$/, '')}/${step.key.split('/')[0]}`)
  }
  return places
}
