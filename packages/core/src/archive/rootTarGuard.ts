import type { Transform } from 'node:stream'
import { TransshipError } from '../errors.js'
import { scannerStream } from './scannerStream.js'
import { TarEntryRules } from './tarEntryRules.js'
import { TarFormatError } from './tarHeader.js'
import { type TarEntry, TarScanner } from './tarScanner.js'

/** What {@link rootTarGuard} also does. */
export interface RootTarGuardOptions {
  /**
   * An archive of transship's helper program: accept sparse files in PAX format 1.0, and
   * refuse any name or hard-link target with a `..` segment (the helper writes none).
   */
  readonly helper?: boolean
  /** Called with each entry once it is checked, before any of its bytes go on. */
  readonly onEntry?: (entry: TarEntry) => void
}

/** How the guard names the root in its messages. */
const ROOT = '<root>'

/**
 * A pass-through stream like `tarGuard`, for an archive of a whole filesystem whose
 * names are relative to its root (an image layer: `etc/passwd`, `usr/bin/`): it fails
 * instead of forwarding an entry that would land outside the root when extracted, a hard
 * link to a name outside it, a relative symlink that climbs out of it, or an entry beneath
 * a symlink the archive made; also a malformed archive. The bytes go through unchanged;
 * the end-of-archive marker only once the input has ended, as with `tarGuard`.
 *
 * ## Example
 * ```ts
 * await pipeline(await transport.get(key), rootTarGuard(`the layer in backup ${id}`), load)
 * ```
 *
 * @param describe - what the archive is, for error messages.
 * @param options - helper archives, and a look at each checked entry.
 * @return the stream.
 * @throws TransshipError `UNSAFE_ARCHIVE` (as the stream's error) when the archive is
 *   refused, naming the entry.
 */
export function rootTarGuard(describe: string, options: RootTarGuardOptions = {}): Transform {
  const rules = new TarEntryRules(ROOT)
  const scanner = new TarScanner(
    (entry) => {
      if (entry.name.startsWith('/')) {
        throw new TransshipError(
          'UNSAFE_ARCHIVE',
          `refusing ${describe}: entry ${JSON.stringify(entry.name)} has an absolute name`,
        )
      }
      const hardLink = entry.type === '1'
      const climbs = (name: string) => name.split('/').includes('..')
      if (options.helper && (climbs(entry.name) || (hardLink && climbs(entry.linkname)))) {
        throw new TransshipError(
          'UNSAFE_ARCHIVE',
          `refusing ${describe}: entry ${JSON.stringify(entry.name)} has a .. segment${hardLink ? ' in its name or link target' : ''}`,
        )
      }
      if (hardLink && entry.linkname.startsWith('/')) {
        throw new TransshipError(
          'UNSAFE_ARCHIVE',
          `refusing ${describe}: entry ${JSON.stringify(entry.name)} is a hard link to an absolute name`,
        )
      }
      const problem = rules.problemWith({
        ...entry,
        name: `${ROOT}/${entry.name}`,
        linkname: hardLink ? `${ROOT}/${entry.linkname}` : entry.linkname,
      })
      if (problem !== undefined) {
        // Names as the archive spells them, without the root the rules were given.
        const named = problem.replaceAll(`"${ROOT}/`, '"').replaceAll(`"${ROOT}"`, 'the root')
        throw new TransshipError('UNSAFE_ARCHIVE', `refusing ${describe}: ${named}`)
      }
      options.onEntry?.(entry)
    },
    { sparse: options.helper ?? false },
  )
  const refusal = (error: unknown): Error =>
    error instanceof TarFormatError
      ? new TransshipError('UNSAFE_ARCHIVE', `refusing ${describe}: ${error.message}`, {
          cause: error,
        })
      : (error as Error)
  return scannerStream(scanner, refusal)
}
