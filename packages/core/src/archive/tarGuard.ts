import { Transform, type TransformCallback } from 'node:stream'
import { TransshipError } from '../errors.js'
import { TarEntryRules } from './tarEntryRules.js'
import { TarFormatError } from './tarHeader.js'
import { TarScanner } from './tarScanner.js'

/** Options of {@link tarGuard}. */
export interface TarGuardOptions {
  /** The one top-level directory every entry must stay in, e.g. `volume`. */
  readonly root: string
  /** What the archive is, for error messages, e.g. `volume data in backup b1`. */
  readonly describe: string
}

/** A pass-through stream that refuses unsafe tar archives; see {@link tarGuard}. */
export interface TarGuard extends Transform {
  /** Entries checked and passed so far (files, directories, links, …; not PAX or GNU headers). */
  readonly entryCount: number
  /** Bytes passed so far. */
  readonly byteCount: number
}

/**
 * A pass-through stream over a tar archive that checks each header before forwarding it,
 * and fails instead of forwarding an entry that would land outside `root` when extracted.
 * The bytes go through unchanged; only headers are parsed, the way the Docker engine's Go
 * archive/tar reader parses them (ustar, PAX, GNU long names, base-256 numbers).
 *
 * Refused: a name that is absolute, not under `root` or climbing out of it with `..`; a
 * hard link to a name outside `root`; a symlink whose relative target leads outside `root`
 * (absolute targets are allowed: they resolve inside the container at run time); an entry
 * or hard-link target beneath an earlier symlink of the archive. Also refused: a malformed
 * or truncated archive, and GNU sparse entries.
 *
 * The end-of-archive marker (and whatever follows it, up to 1 MiB, passed on without being
 * read) is held back until the input has ended: a consumer never receives a complete
 * archive from an input that then fails, such as a `verifyingStream` that finds a
 * mismatch in its flush.
 *
 * ## Example
 * ```ts
 * await pipeline(
 *   await transport.get(key),
 *   tarGuard({ root: 'volume', describe: `volume data in backup ${id}` }),
 *   upload,
 * )
 * ```
 *
 * @param options - the root directory and a description for messages.
 * @return the stream, with running counts of entries and bytes.
 * @throws TransshipError `INVALID_OPTION` when `root` is not a single directory name;
 *   `UNSAFE_ARCHIVE` (as the stream's error) when the archive is refused, naming the entry.
 */
export function tarGuard(options: TarGuardOptions): TarGuard {
  const { root } = options
  if (root === '' || root === '.' || root === '..' || /[/\0]/.test(root)) {
    throw new TransshipError(
      'INVALID_OPTION',
      `tarGuard: root must be a single directory name, got ${JSON.stringify(root)}`,
    )
  }
  return new TarGuardStream(options)
}

class TarGuardStream extends Transform implements TarGuard {
  readonly #describe: string
  readonly #scanner: TarScanner
  #entryCount = 0
  #byteCount = 0

  constructor({ root, describe }: TarGuardOptions) {
    super()
    this.#describe = describe
    const rules = new TarEntryRules(root)
    this.#scanner = new TarScanner((entry) => {
      const problem = rules.problemWith(entry)
      if (problem !== undefined) {
        throw new TransshipError('UNSAFE_ARCHIVE', `refusing ${describe}: ${problem}`)
      }
      this.#entryCount++
    })
  }

  get entryCount(): number {
    return this.#entryCount
  }

  get byteCount(): number {
    return this.#byteCount
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    let checked: Buffer[]
    try {
      checked = this.#scanner.scan(chunk)
    } catch (error) {
      callback(this.#refusal(error))
      return
    }
    this.#forward(checked)
    callback()
  }

  override _flush(callback: TransformCallback) {
    let trailer: Buffer[]
    try {
      trailer = this.#scanner.end()
    } catch (error) {
      callback(this.#refusal(error))
      return
    }
    this.#forward(trailer)
    callback()
  }

  #forward(parts: Buffer[]): void {
    for (const part of parts) {
      this.#byteCount += part.length
      this.push(part)
    }
  }

  #refusal(error: unknown): Error {
    if (!(error instanceof TarFormatError)) {
      return error instanceof Error ? error : new Error(String(error))
    }
    return new TransshipError('UNSAFE_ARCHIVE', `refusing ${this.#describe}: ${error.message}`, {
      cause: error,
    })
  }
}
