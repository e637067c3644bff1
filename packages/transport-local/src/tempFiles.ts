import { randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'

const TEMP_NAME = /^\..+\.partial-[0-9a-f]{12}$/

/** A fresh temporary path next to `path`: `<dir>/.<name>.partial-<12 hex digits>`. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.partial-${randomBytes(6).toString('hex')}`)
}

/** Whether a file name is one {@link tempPathFor} makes. */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name)
}
