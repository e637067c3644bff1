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

/** `--from <engine>`: the source engine. */
export function fromOption(): Option {
  return new Option(
    '--from <engine>',
    'source engine URL (default: DOCKER_HOST, else the local socket)',
  )
}

/** `--volumes a,/data`: the volumes whose content is copied. */
export function volumesOption(): Option {
  return listOption(
    '--volumes <list>',
    'copy only these volumes, by name or mount path (comma-separated)',
  )
}

/** The choices about the destination that migrate, restore and plan share. */
export function destinationChoiceOptions(): Option[] {
  return [
    onConflictOption(),
    onMissingNetworkOption(),
    new Option('--name <name>', "the container's name at the destination (default: the source's)"),
  ]
}
