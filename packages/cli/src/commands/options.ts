import type { OnConflict } from '@transship/core'
import { InvalidArgumentError, Option } from 'commander'

/**
 * A comma-separated list option: `--volumes a,/data` gives `['a', '/data']`.
 *
 * @param flags - the option's flags, e.g. `--volumes <list>`.
 * @param description - its help text.
 */
export function listOption(flags: string, description: string): Option {
  return new Option(flags, description).argParser((value: string) => {
    const items = value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean)
    if (items.length === 0) throw new InvalidArgumentError('expected a comma-separated list')
    return items
  })
}

const CONFLICT_CHOICES: readonly OnConflict[] = ['fail', 'rename', 'replace']

/** `--on-conflict fail|rename|replace`: what to do when a volume name is taken. */
export function onConflictOption(): Option {
  return new Option(
    '--on-conflict <choice>',
    'when a volume name is taken at the destination: fail, rename (a fresh name), or replace (remove the existing volume)',
  )
    .choices(CONFLICT_CHOICES)
    .default('fail')
}
