import { Command } from 'commander'
import { type EngineFlags, engineFlagOptions, engineOptionsOf } from '../engineOptions.js'
import { type KeyFlags, keyFileOption, noEncryptOption, sealingOf } from '../keyFile.js'
import { loadCore } from '../loadCore.js'
import { type OutputFlags, runPipeline } from '../runPipeline.js'
import { openTransport, type TransportFlags, transportModuleOption } from '../transports.js'
import { containersArgument, type GroupFlags, groupOf, projectOption } from './groupArguments.js'
import {
  type CompressFlags,
  compressionOf,
  compressOption,
  fromOption,
  type HookFlags,
  preFreezeOption,
  type StateFlags,
  stateDirOption,
  undoTimeoutOf,
  undoTimeoutOption,
  volumesOption,
} from './options.js'

interface BackupFlags
  extends EngineFlags,
    TransportFlags,
    GroupFlags,
    OutputFlags,
    StateFlags,
    KeyFlags,
    HookFlags,
    CompressFlags {
  readonly from?: string
  readonly via: string
  readonly volumes?: string[]
  readonly leaveRunning?: boolean
  readonly image: boolean
  readonly checkpoint: boolean
  readonly checksum?: boolean
}

/**
 * `transship backup`: the backup half on its own. Prints the backup's URL as the last line
 * of stdout (progress goes to stderr), for `transship restore` on the other host.
 *
 * @return the subcommand.
 */
export function backupCommand(): Command {
  const command = new Command('backup')
    .description(
      'Checkpoint (or stop) a container and store its state through a transport; print the ' +
        'backup URL. The container stays stopped (restart policy no) unless --leave-running.',
    )
    .addArgument(containersArgument('are backed up'))
    .addOption(projectOption('back up'))
    .addOption(fromOption())
    .requiredOption(
      '--via <url>',
      'where the backup goes: file:///dir, scp://[user@]host[:port]/path or s3://bucket/prefix',
    )
    .addOption(volumesOption())
    .option('--leave-running', 'start the container again once the copy is taken')
    .option('--no-image', 'leave the image out: the destination must hold it already')
    .option(
      '--no-checkpoint',
      'stop the container instead of checkpointing its processes with CRIU',
    )
    .option(
      '--checksum',
      "after the freeze, find what changed in the volumes by each file's content hash rather than its ctime (reads every file once more)",
    )
    .option('--json', 'print events as JSON lines; the last one carries the backup URL')
  for (const option of [
    compressOption(),
    keyFileOption(),
    noEncryptOption(),
    stateDirOption(),
    undoTimeoutOption(),
    preFreezeOption(),
    ...engineFlagOptions(),
    transportModuleOption(),
  ])
    command.addOption(option)
  return command.action(async (containers: string[], flags: BackupFlags) => {
    const core = await loadCore()
    const group = groupOf(containers, flags, core)
    // Before anything is touched.
    if (flags.encrypt !== false && !flags.keyFile) throw core.keyRequired('backup')
    if (group.container === undefined && flags.preFreeze !== undefined) {
      throw new core.TransshipError(
        'INVALID_OPTION',
        "--pre-freeze names one container's hook: in a group, give each container its own with the label transship.pre-freeze",
      )
    }
    const sealing = await sealingOf(flags)
    const source = await core.connectEngine(flags.from, engineOptionsOf(flags))
    const transport = await openTransport(flags.via, flags)
    const choices = {
      source,
      transport,
      ...sealing,
      ...compressionOf(flags),
      ...undoTimeoutOf(flags),
      ...(flags.volumes ? { volumes: flags.volumes } : {}),
      ...(flags.leaveRunning ? { leaveRunning: true } : {}),
      includeImage: flags.image,
      checkpoint: flags.checkpoint,
      ...(flags.checksum ? { checksum: true } : {}),
    }
    try {
      await runPipeline(
        {
          ...(flags.stateDir ? { stateDir: flags.stateDir } : {}),
          command: `backup ${group.label}`,
          source: { engine: source.url, container: group.label },
        },
        (signal, ledger) =>
          group.container === undefined
            ? core.backupGroup({ ...choices, ...group.members, signal, ledger })
            : core.backup({
                ...choices,
                container: group.container,
                ...(flags.preFreeze ? { preFreeze: flags.preFreeze } : {}),
                signal,
                ledger,
              }),
        flags,
        (summary) => summary.backupUrl ?? '',
      )
    } finally {
      await Promise.all([source.close(), transport.close?.()])
    }
  })
}
