import type { OnConflict, OnMissingNetwork } from '@transship/core'
import { Command } from 'commander'
import { type EngineFlags, engineFlagOptions, engineOptionsOf } from '../engineOptions.js'
import { type KeyFlags, keyFileOption, noEncryptOption, sealingOf } from '../keyFile.js'
import { loadCore } from '../loadCore.js'
import { downtimeOf, formatBytes, formatDuration, targetsOf } from '../render/format.js'
import { type OutputFlags, runPipeline } from '../runPipeline.js'
import { openTransport, type TransportFlags, transportModuleOption } from '../transports.js'
import { containersArgument, type GroupFlags, groupOf, projectOption } from './groupArguments.js'
import {
  type CompressFlags,
  compressionOf,
  compressOption,
  destinationChoiceOptions,
  fromOption,
  type HookFlags,
  hooksOf,
  postRestoreOptions,
  preFreezeOption,
  type StateFlags,
  stateDirOption,
  type TargetChangeFlags,
  targetChangesOf,
  undoTimeoutOf,
  undoTimeoutOption,
  volumesOption,
} from './options.js'

interface MigrateFlags
  extends EngineFlags,
    TransportFlags,
    GroupFlags,
    OutputFlags,
    StateFlags,
    KeyFlags,
    TargetChangeFlags,
    HookFlags,
    CompressFlags {
  readonly from?: string
  readonly to: string
  readonly via?: string
  readonly checkpoint: boolean
  readonly checksum?: boolean
  readonly volumes?: string[]
  readonly onConflict: OnConflict
  readonly onMissingNetwork: OnMissingNetwork
  readonly name?: string
  readonly removeSource?: boolean
  readonly keepBackup?: boolean
  readonly keepCheckpoint?: boolean
  readonly verify?: boolean
}

/**
 * `transship migrate`: moves a container from one engine to another, straight or through
 * staging (`--via`).
 *
 * @return the subcommand.
 */
export function migrateCommand(): Command {
  const command = new Command('migrate')
    .description(
      'Move a running container, with its processes (a CRIU checkpoint), volumes, layer, ' +
        'configuration and image, from one engine to another. The source is kept (stopped, ' +
        'restart policy no) unless --remove-source; on any failure it is put back as it was.',
    )
    .addArgument(containersArgument('move'))
    .addOption(projectOption('move'))
    .addOption(fromOption())
    .requiredOption('--to <engine>', 'destination engine URL')
    .option(
      '--via <url>',
      'stage the archives at file:///dir, scp://[user@]host[:port]/path or s3://bucket/prefix ' +
        '(for hosts that cannot reach each other, or an audit copy); by default they stream ' +
        'straight from one engine into the other, volumes copied while the container still runs',
    )
    .option(
      '--no-checkpoint',
      'cold migration: stop the container instead of checkpointing its processes with CRIU (they restart at the destination)',
    )
    .option(
      '--checksum',
      "after the freeze, find what changed in the volumes by each file's content hash rather than its ctime (reads every file once more)",
    )
    .addOption(volumesOption())
    .option('--remove-source', 'remove the source container once the target runs')
    .option('--keep-backup', 'keep the staged backup once the target runs (needs --via)')
    .option(
      '--keep-checkpoint',
      "keep the source's checkpoint on the source engine once the target runs (it holds the processes' memory; removed by default)",
    )
    .option(
      '--verify',
      "before the target starts, compare its volumes and layer with the frozen source's, path by path, and roll back on any difference (adds to the downtime: every file is read on both sides)",
    )
    .option('--json', 'print events as JSON lines')
  for (const option of [
    compressOption(),
    keyFileOption(),
    noEncryptOption(),
    stateDirOption(),
    undoTimeoutOption(),
    ...destinationChoiceOptions(),
    preFreezeOption(),
    ...postRestoreOptions(),
    ...engineFlagOptions(),
    transportModuleOption(),
  ])
    command.addOption(option)
  return command.action(async (containers: string[], flags: MigrateFlags) => {
    const core = await loadCore()
    const group = groupOf(containers, flags, core)
    // Before anything is touched: a kept backup must be one somebody can open.
    if (flags.keepBackup && flags.via !== undefined && flags.encrypt !== false && !flags.keyFile) {
      throw core.keyRequired('migrate --keep-backup')
    }
    const sealing = await sealingOf(flags)
    const changes = await targetChangesOf(flags)
    const source = await core.connectEngine(flags.from, engineOptionsOf(flags))
    const destination = await core.connectEngine(flags.to, engineOptionsOf(flags))
    const transport = flags.via === undefined ? undefined : await openTransport(flags.via, flags)
    const choices = {
      source,
      destination,
      ...(transport ? { transport } : {}),
      ...sealing,
      ...compressionOf(flags),
      checkpoint: flags.checkpoint,
      ...(flags.checksum ? { checksum: true } : {}),
      onConflict: flags.onConflict,
      onMissingNetwork: flags.onMissingNetwork,
      ...undoTimeoutOf(flags),
      ...(flags.volumes ? { volumes: flags.volumes } : {}),
      ...changes,
      ...hooksOf(flags),
      ...(flags.removeSource ? { removeSource: true } : {}),
      ...(flags.keepBackup ? { keepBackup: true } : {}),
      ...(flags.keepCheckpoint ? { keepCheckpoint: true } : {}),
      ...(flags.verify ? { verify: true } : {}),
    }
    try {
      await runPipeline(
        {
          ...(flags.stateDir ? { stateDir: flags.stateDir } : {}),
          command: `migrate ${group.label}`,
          source: { engine: source.url, container: group.label },
          onSuccess: {
            removeStaging: transport !== undefined && !flags.keepBackup,
            removeSource: flags.removeSource === true,
            removeCheckpoint: flags.checkpoint && !flags.keepCheckpoint,
          },
        },
        (signal, ledger) =>
          group.container === undefined
            ? core.migrateGroup({ ...choices, ...group.members, signal, ledger })
            : core.migrate({
                ...choices,
                container: group.container,
                ...(flags.name ? { name: flags.name } : {}),
                signal,
                ledger,
              }),
        flags,
        (summary) =>
          `migrated ${group.label} to ${destination.url} as ${targetsOf(summary)} in ${formatDuration(summary.durationMs)}${downtimeOf(summary)} (${formatBytes(summary.bytes)} moved${summary.backupKept ? `, backup kept at ${summary.backupUrl}` : ''})`,
      )
    } finally {
      await Promise.all([source.close(), destination.close(), transport?.close?.()])
    }
  })
}
