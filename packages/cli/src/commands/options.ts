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

/** `--state-dir <dir>`: where runs record their undo steps, for `transship recover`. */
export function stateDirOption(): Option {
  return new Option(
    '--state-dir <dir>',
    'where unfinished migrations are recorded, for `transship recover` (default: $XDG_STATE_HOME/transship, else ~/.local/state/transship)',
  )
}

/** `--undo-timeout <seconds>`: how long one undo step may take. */
export function undoTimeoutOption(): Option {
  return new Option(
    '--undo-timeout <seconds>',
    'how long one step of a rollback may take before it is left for `transship recover` (default 60)',
  ).argParser((value: string) => {
    const seconds = Number(value)
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw new InvalidArgumentError(
        `expected a number of seconds above 0, got ${JSON.stringify(value)}`,
      )
    }
    return seconds
  })
}

/** What `--state-dir` and `--undo-timeout` give a command. */
export interface StateFlags {
  readonly stateDir?: string
  readonly undoTimeout?: number
}

/**
 * The undo steps' timeout a command's flags choose, for a pipeline's options.
 *
 * @param flags - the command's flags.
 * @return `{ undoTimeoutMs }`, or nothing for the default.
 */
export function undoTimeoutOf(flags: StateFlags): { undoTimeoutMs?: number } {
  return flags.undoTimeout === undefined ? {} : { undoTimeoutMs: flags.undoTimeout * 1000 }
}
