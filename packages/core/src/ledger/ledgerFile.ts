import type { FileHandle } from 'node:fs/promises'
import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { messageOf, TransshipError } from '../errors.js'
import { undoStepSchema } from './undoSteps.js'

/** What starts a ledger: which migration, of which container, run by which process. */
export const ledgerBeginSchema = z.object({
  type: z.literal('begin'),
  /** The ledger's id: what `transship recover ID` takes. */
  id: z.string(),
  /** What runs, e.g. `migrate web`. */
  command: z.string(),
  /** The container it changes: its engine, and its name or id as given. */
  source: z.object({ engine: z.string(), container: z.string() }).optional(),
  host: z.string(),
  pid: z.number(),
  /** What the run does once its target runs; a roll forward by `transship recover` too. */
  onSuccess: z
    .object({
      /** Remove the staged artifacts (a migration without `--keep-backup`). */
      removeStaging: z.boolean().optional(),
      /** Remove the source container (`--remove-source`). */
      removeSource: z.boolean().optional(),
      /** Remove the source's checkpoint (unless `--keep-checkpoint`). */
      removeCheckpoint: z.boolean().optional(),
    })
    .optional(),
  /** When the process started (`ps -o lstart`'s instant), to tell a reused pid from it. */
  pidStartedAt: z.string().optional(),
  at: z.string(),
})

/** One line of a ledger file. */
export const ledgerLineSchema = z.discriminatedUnion('type', [
  ledgerBeginSchema,
  /** A change about to be made, and how to take it back; replaces a step of the same key. */
  z.object({ type: z.literal('step'), key: z.string(), step: undoStepSchema, at: z.string() }),
  /** A step no longer needed: taken back, or its object gone another way. */
  z.object({
    type: z.literal('settled'),
    key: z.string(),
    how: z.enum(['undone', 'dropped']),
    at: z.string(),
  }),
  /** The target runs: from here on the migration is finished, never rolled back. */
  z.object({ type: z.literal('committed'), at: z.string() }),
  z.object({
    type: z.literal('ended'),
    outcome: z.enum(['completed', 'rolled-back']),
    at: z.string(),
  }),
])

export type LedgerBegin = z.infer<typeof ledgerBeginSchema>
export type LedgerLine = z.infer<typeof ledgerLineSchema>

/**
 * Where ledgers are kept: `--state-dir`, else `$XDG_STATE_HOME/transship`, else
 * `~/.local/state/transship`.
 *
 * @param stateDir - the user's choice, if any.
 * @return the directory.
 */
export function ledgerDirectory(stateDir?: string): string {
  const base =
    stateDir ?? join(process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'transship')
  return join(base, 'migrations')
}

/**
 * A ledger's file: one JSON object per line, appended and flushed to the disk
 * (`fdatasync`) before the change it records is made, so that a `kill -9` or a power cut
 * leaves every change made so far written down.
 */
export class LedgerFile {
  readonly path: string
  readonly #handle: FileHandle
  /** Appends in the order they were asked for, one at a time. */
  #queue: Promise<void> = Promise.resolve()

  private constructor(path: string, handle: FileHandle) {
    this.path = path
    this.#handle = handle
  }

  /**
   * Creates the file of a new ledger, and writes its first line.
   *
   * @param directory - {@link ledgerDirectory}.
   * @param begin - the first line.
   * @return the open file.
   * @throws the file system's error, e.g. `EEXIST` for an id in use.
   */
  static async create(directory: string, begin: LedgerBegin): Promise<LedgerFile> {
    await mkdir(directory, { recursive: true, mode: 0o700 })
    const path = join(directory, `${begin.id}.jsonl`)
    const handle = await open(path, 'wx', 0o600)
    const file = new LedgerFile(path, handle)
    await file.append(begin)
    return file
  }

  /**
   * Opens an existing ledger's file to append to it (`transship recover`).
   *
   * @param path - the file.
   * @return the open file.
   */
  static async reopen(path: string): Promise<LedgerFile> {
    return new LedgerFile(path, await open(path, 'a'))
  }

  /**
   * Appends a line, and returns once it is on the disk.
   *
   * @param line - the line.
   */
  append(line: LedgerLine): Promise<void> {
    const text = `${JSON.stringify(ledgerLineSchema.parse(line))}\n`
    const written = this.#queue.then(async () => {
      await this.#handle.appendFile(text)
      await this.#handle.datasync()
    })
    this.#queue = written.catch(() => {})
    return written
  }

  /** Closes the file, and removes it when `remove` is set (the ledger has ended). */
  async close(options: { remove?: boolean } = {}): Promise<void> {
    await this.#queue
    await this.#handle.close()
    if (options.remove) await rm(this.path, { force: true })
  }
}

/** A ledger as read back from its file. */
export interface LedgerContent {
  readonly path: string
  readonly begin: LedgerBegin
  readonly lines: readonly LedgerLine[]
}

/**
 * Reads every ledger in a directory. A last line cut short (the process died while
 * writing it) is left out: its change was not made yet.
 *
 * @param directory - {@link ledgerDirectory}.
 * @return the ledgers, oldest first; none when the directory does not exist.
 * @throws TransshipError `LEDGER_INVALID` naming the file and line for a line that is not one.
 */
export async function readLedgers(directory: string): Promise<LedgerContent[]> {
  const names = await readdir(directory).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[]
    throw error
  })
  const ledgers: LedgerContent[] = []
  for (const name of names.filter((entry) => entry.endsWith('.jsonl')).sort()) {
    const path = join(directory, name)
    const content = await readLedger(path)
    if (content) ledgers.push(content)
  }
  return ledgers
}

async function readLedger(path: string): Promise<LedgerContent | undefined> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined
    throw error
  })
  if (text === undefined) return undefined
  // What follows the last newline is empty, or a line cut short.
  const complete = text.split('\n').slice(0, -1)
  const lines = complete.map((row, index) => {
    try {
      return ledgerLineSchema.parse(JSON.parse(row))
    } catch (error) {
      throw new TransshipError(
        'LEDGER_INVALID',
        `${path}, line ${index + 1}: not a line of a transship ledger (${messageOf(error)})`,
      )
    }
  })
  const [begin] = lines
  if (begin?.type !== 'begin') return undefined
  return { path, begin, lines }
}
