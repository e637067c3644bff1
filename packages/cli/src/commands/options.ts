import type { OnConflict, OnMissingNetwork } from '@transship/core'
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

const NETWORK_CHOICES: readonly OnMissingNetwork[] = ['create', 'fail']

/** `--on-missing-network create|fail`: what to do when a user-defined network is missing. */
export function onMissingNetworkOption(): Option {
  return new Option(
    '--on-missing-network <choice>',
    "when a user-defined network of the source is missing at the destination: create it with the source's driver and options, or fail",
  )
    .choices(NETWORK_CHOICES)
    .default('create')
}
