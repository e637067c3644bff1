import { randomBytes } from 'node:crypto'
import type { EngineClient } from '../engine/client.js'
import { TransshipError } from '../errors.js'
import type { Transport } from '../transport/contract.js'
import { thisProcess } from './holder.js'
import { type LedgerBegin, type LedgerContent, LedgerFile, ledgerDirectory } from './ledgerFile.js'
import type { LedgerResolver } from './performStep.js'
import { describeStep, type UndoRecord, type UndoStep, withoutSecret } from './undoSteps.js'

/** An undo step the ledger holds, under the key of the object it takes back. */
export interface LedgerEntry {
  readonly key: string
  readonly step: UndoStep
}

/** What a durable ledger records about its run. */
export interface DurableLedgerOptions {
  /** Where ledgers are kept (default `$XDG_STATE_HOME/transship`). */
  readonly stateDir?: string
  /** What runs, e.g. `migrate web`. */
  readonly command: string
  /** The container it changes, as given. */
  readonly source?: { readonly engine: string; readonly container: string }
  /** What the run does once its target runs, so that a roll forward does it too. */
  readonly onSuccess?: LedgerBegin['onSuccess']
}

/**
 * One run's undo ledger: every change the run makes is recorded before it is made, as data
 * ({@link UndoStep}), so that a failure anywhere in the pipeline, or another process after
 * a crash (`transship recover`), can take it back. A durable ledger writes each record to
 * a file under the state directory and flushes it before returning; an in-memory one
 * (the default of a pipeline that is not given one) only holds them.
 *
 * ## Example
 * ```ts
 * const ledger = await Ledger.durable({ command: 'migrate web' })
 * startMigration({ ledger }).pipe(…, rollbackOnFailure())
 * ```
 */
export class Ledger {
  readonly id: string
  /** What runs, e.g. `migrate web`. */
  readonly command: string
  readonly #file: LedgerFile | undefined
  /** Outstanding steps by key, oldest first (a replaced step moves to the end). */
  readonly #entries = new Map<string, UndoStep>()
  /** The engines and transports of this run, by URL, for a rollback in this process. */
  readonly #engines = new Map<string, EngineClient>()
  readonly #transports = new Map<string, Transport>()
  /** What was taken back so far, in order. */
  readonly #undone: string[] = []
  /** Stages still at work, or still taking back their own changes. */
  readonly #running = new Set<Promise<unknown>>()
  #committed = false

  private constructor(id: string, command: string, file?: LedgerFile) {
    this.id = id
    this.command = command
    this.#file = file
  }

  /**
   * A ledger held in memory only: a crash loses it.
   *
   * @param command - what runs (default `a transship pipeline`).
   * @return the ledger.
   */
  static inMemory(command = 'a transship pipeline'): Ledger {
    return new Ledger(newLedgerId(), command)
  }

  /**
   * A new ledger, written to its own file under the state directory.
   *
   * @param options - state directory, command, source.
   * @return the ledger.
   */
  static async durable(options: DurableLedgerOptions): Promise<Ledger> {
    const id = newLedgerId()
    const file = await LedgerFile.create(ledgerDirectory(options.stateDir), {
      type: 'begin',
      id,
      command: options.command,
      ...(options.source
        ? { source: { ...options.source, engine: withoutSecret(options.source.engine) } }
        : {}),
      ...(options.onSuccess ? { onSuccess: options.onSuccess } : {}),
      ...thisProcess(),
      at: new Date().toISOString(),
    })
    return new Ledger(id, options.command, file)
  }

  /**
   * A ledger read back from its file, to go on with it (`transship recover`).
   *
   * @param content - what {@link readLedgers} read.
   * @return the ledger, its file open for appending.
   */
  static async reopen(content: LedgerContent): Promise<Ledger> {
    const { id, command } = content.begin
    const ledger = new Ledger(id, command, await LedgerFile.reopen(content.path))
    for (const line of content.lines) {
      if (line.type === 'step') {
        ledger.#entries.delete(line.key)
        ledger.#entries.set(line.key, line.step)
      } else if (line.type === 'settled') {
        ledger.#entries.delete(line.key)
      } else if (line.type === 'committed') {
        ledger.#committed = true
      }
    }
    return ledger
  }

  /** Whether it is written to a file (and `transship recover` can finish it). */
  get durable(): boolean {
    return this.#file !== undefined
  }

  /** The outstanding steps, oldest first. */
  get entries(): LedgerEntry[] {
    return [...this.#entries].map(([key, step]) => ({ key, step }))
  }

  /** Whether the target runs: the migration is then finished, never rolled back. */
  get committed(): boolean {
    return this.#committed
  }

  /**
   * Records how to take back a change about to be made; returns once it is written. A step
   * under the same key replaces the one recorded before (the object was made again).
   *
   * @param record - the step, its key, and the engines or transports it uses.
   */
  async record(record: UndoRecord): Promise<void> {
    if (record.engine) this.#engines.set(withoutSecret(record.engine.url), record.engine)
    if (record.transport) {
      this.#transports.set(withoutSecret(record.transport.url), record.transport)
    }
    await this.#file?.append({
      type: 'step',
      key: record.key,
      step: record.step,
      at: new Date().toISOString(),
    })
    this.#entries.delete(record.key)
    this.#entries.set(record.key, record.step)
  }

  /**
   * Marks a step as no longer needed: taken back, or its object gone another way.
   *
   * @param key - the step's key.
   * @param how - `undone` or `dropped`.
   */
  async settle(key: string, how: 'undone' | 'dropped'): Promise<void> {
    const step = this.#entries.get(key)
    if (!step) return
    await this.#file?.append({ type: 'settled', key, how, at: new Date().toISOString() })
    this.#entries.delete(key)
    if (how === 'undone') this.#undone.push(describeStep(step))
  }

  /** What was taken back so far (by any stage or rollback of this run), in order. */
  get undone(): readonly string[] {
    return this.#undone
  }

  /**
   * Follows a stage's work until it has settled, its own changes taken back if it failed.
   *
   * @param work - the stage's work.
   */
  track(work: Promise<unknown>): void {
    const settled = work.then(
      () => {},
      () => {},
    )
    this.#running.add(settled)
    void settled.then(() => this.#running.delete(settled))
  }

  /** Resolves once no stage is at work: a rollback then races none (a stopped sibling's). */
  async quiesce(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running)
  }

  /** Records that the target runs: from here on, nothing is rolled back. */
  async commit(): Promise<void> {
    if (this.#committed) return
    await this.#file?.append({ type: 'committed', at: new Date().toISOString() })
    this.#committed = true
  }

  /**
   * Ends the ledger: the run completed, or everything was taken back. Its file is removed.
   *
   * @param outcome - how it ended.
   */
  async end(outcome: 'completed' | 'rolled-back'): Promise<void> {
    await this.#file?.append({ type: 'ended', outcome, at: new Date().toISOString() })
    await this.#file?.close({ remove: true })
    this.#entries.clear()
  }

  /** Closes its file, leaving the ledger unfinished for `transship recover`. */
  async close(): Promise<void> {
    await this.#file?.close()
  }

  /**
   * Reaches what the steps name: this run's own engines and transports, else `fallback`.
   *
   * @param fallback - connects to URLs this process does not hold (`transship recover`).
   * @return the resolver.
   */
  resolver(fallback?: LedgerResolver): LedgerResolver {
    const missing = (url: string) =>
      new TransshipError('LEDGER_UNREACHABLE', `no connection to ${url} to undo a step with`)
    return {
      engine: async (url) => {
        const known = this.#engines.get(url)
        if (known) return known
        if (fallback) return fallback.engine(url)
        throw missing(url)
      },
      transport: async (url) => {
        const known = this.#transports.get(url)
        if (known) return known
        if (fallback) return fallback.transport(url)
        throw missing(url)
      },
    }
  }
}

/** A ledger id: when it began, to the second, and 4 random bytes, e.g. `20261203T052200-9f1c2a3b`. */
function newLedgerId(): string {
  const time = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)
  return `${time}-${randomBytes(4).toString('hex')}`
}
