import type {
  Compression,
  Hooks,
  OnConflict,
  OnMissingNetwork,
  TargetChanges,
} from '@transship/core'
import { InvalidArgumentError, Option } from 'commander'
import { loadCore } from '../loadCore.js'

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

const COMPRESSION_CHOICES: readonly Compression[] = ['zstd', 'gzip', 'none']

/** What `--compress` gives a command. */
export interface CompressFlags {
  readonly compress?: Compression
}

/** `--compress zstd|gzip|none`: how staged artifacts are compressed, before encryption. */
export function compressOption(): Option {
  return new Option(
    '--compress <codec>',
    'compress each staged artifact before it is encrypted (default: zstd for scp:// and s3://, none for file://); refused without staging',
  ).choices(COMPRESSION_CHOICES)
}

/**
 * The pipeline's compression option, when `--compress` was given.
 *
 * @param flags - the command's flags.
 * @return `{ compress }`, or nothing (the transport's default).
 */
export function compressionOf(flags: CompressFlags): { compress?: Compression } {
  return flags.compress ? { compress: flags.compress } : {}
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
    ...targetChangeOptions(),
  ]
}

/** Each use of a repeatable flag adds its value. */
function collect(value: string, previous: readonly string[] = []): string[] {
  return [...previous, value]
}

/** What the target changes from its source: raw values, read by {@link targetChangesOf}. */
function targetChangeOptions(): Option[] {
  return [
    new Option(
      '-p, --publish <binding>',
      "publish a port of the target, [ip:][hostPort:]containerPort[/protocol], replacing the source's port bindings (repeatable)",
    ).argParser(collect),
    new Option(
      '-e, --env <KEY=VALUE>',
      "set an environment variable in the target, over the source's (repeatable)",
    ).argParser(collect),
    new Option(
      '--network <OLD=NEW>',
      "join network NEW at the destination where the source is on OLD (created with OLD's settings when missing; repeatable)",
    ).argParser(collect),
    new Option(
      '--volume-name <OLD=NEW>',
      'make the volume named or mounted at OLD as NEW at the destination (repeatable)',
    ).argParser(collect),
  ]
}

/** What the target-change flags give a command. */
export interface TargetChangeFlags {
  readonly publish?: readonly string[]
  readonly env?: readonly string[]
  readonly network?: readonly string[]
  readonly volumeName?: readonly string[]
}

/**
 * The target changes a command's flags choose, checked for their grammar (a bad value
 * fails before anything runs, naming its flag).
 *
 * @param flags - the command's flags.
 * @return `{ changes }` for a pipeline's options, or nothing when no flag was given.
 * @throws TransshipError `INVALID_OPTION`.
 */
export async function targetChangesOf(
  flags: TargetChangeFlags,
): Promise<{ changes?: TargetChanges }> {
  const { parseAssignment, parsePublish } = await loadCore()
  const assignments = (flag: string, values: readonly string[] | undefined) =>
    values ? Object.fromEntries(values.map((value) => parseAssignment(flag, value))) : undefined
  for (const binding of flags.publish ?? []) parsePublish(binding)
  const changes: TargetChanges = {
    ...(flags.publish ? { publish: flags.publish } : {}),
    ...(flags.env ? { env: assignments('--env', flags.env) } : {}),
    ...(flags.network ? { networks: assignments('--network', flags.network) } : {}),
    ...(flags.volumeName ? { volumeNames: assignments('--volume-name', flags.volumeName) } : {}),
  }
  return Object.keys(changes).length > 0 ? { changes } : {}
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

/** `--pre-freeze CMD`: run in the source before the freeze. */
export function preFreezeOption(): Option {
  return new Option(
    '--pre-freeze <command>',
    'run this command (sh -c) in the source before it is frozen, e.g. "redis-cli BGSAVE"; its failure stops the migration before anything stops (default: the label transship.pre-freeze)',
  )
}

/** `--post-restore CMD` and `--keep-on-hook-failure`: run in the target once it runs. */
export function postRestoreOptions(): Option[] {
  return [
    new Option(
      '--post-restore <command>',
      'run this command (sh -c) in the target once it runs; its failure rolls everything back (default: the label transship.post-restore)',
    ),
    new Option(
      '--keep-on-hook-failure',
      'keep the target running when the post-restore command fails (a warning), rather than roll back',
    ),
  ]
}

/** What the hook flags give a command. */
export interface HookFlags {
  readonly preFreeze?: string
  readonly postRestore?: string
  readonly keepOnHookFailure?: boolean
}

/**
 * The hooks a command's flags choose, for a pipeline's options.
 *
 * @param flags - the command's flags.
 * @return `{ hooks }`, or nothing when no flag was given.
 */
export function hooksOf(flags: HookFlags): { hooks?: Hooks } {
  const hooks: Hooks = {
    ...(flags.preFreeze ? { preFreeze: flags.preFreeze } : {}),
    ...(flags.postRestore ? { postRestore: flags.postRestore } : {}),
    ...(flags.keepOnHookFailure ? { keepOnFailure: true } : {}),
  }
  return Object.keys(hooks).length > 0 ? { hooks } : {}
}
