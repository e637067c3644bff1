import { connectEngine, type OnConflict, type OnMissingNetwork, restore } from '@transship/core'
import { Command, Option } from 'commander'
import { type EngineFlags, engineFlagOptions, engineOptionsOf } from '../engineOptions.js'
import { type KeyFlags, keyFileOption, secretOf } from '../keyFile.js'
import { downtimeOf, formatDuration } from '../render/format.js'
import { type OutputFlags, runPipeline } from '../runPipeline.js'
import { openTransport, splitBackupUrl } from '../transports.js'
import {
  destinationChoiceOptions,
  type StateFlags,
  stateDirOption,
  undoTimeoutOf,
  undoTimeoutOption,
} from './options.js'

interface RestoreFlags extends EngineFlags, OutputFlags, StateFlags, KeyFlags {
  readonly insecure?: boolean
  readonly to?: string
  readonly onConflict: OnConflict
  readonly onMissingNetwork: OnMissingNetwork
  readonly name?: string
}

/**
 * `transship restore`: the restore half on its own, from a backup URL that `backup`
 * printed.
 *
 * @return the subcommand.
 */
export function restoreCommand(): Command {
  const command = new Command('restore')
    .description('Restore a backup at a destination engine and start the container there.')
    .argument('<backup-url>', 'the URL backup printed: <transport URL>/<backup id>')
    .option('--to <engine>', 'destination engine URL (default: DOCKER_HOST, else the local socket)')
    .option('--json', 'print events as JSON lines')
  for (const option of [
    keyFileOption(),
    new Option(
      '--insecure',
      'restore a backup made with --no-encrypt: nothing proves who wrote it, so only if you trust everyone who can write to the staging',
    ),
    stateDirOption(),
    undoTimeoutOption(),
    ...destinationChoiceOptions(),
    ...engineFlagOptions(),
  ])
    command.addOption(option)
  return command.action(async (backupUrl: string, flags: RestoreFlags) => {
    const secret = await secretOf(flags)
    const { transportUrl, id } = splitBackupUrl(backupUrl)
    const destination = await connectEngine(flags.to, engineOptionsOf(flags))
    const transport = await openTransport(transportUrl, flags)
    try {
      await runPipeline(
        {
          ...(flags.stateDir ? { stateDir: flags.stateDir } : {}),
          command: `restore ${backupUrl}`,
        },
        (signal, ledger) =>
          restore({
            destination,
            transport,
            id,
            ...(secret ? { secret } : {}),
            ...(flags.insecure ? { insecure: true } : {}),
            onConflict: flags.onConflict,
            onMissingNetwork: flags.onMissingNetwork,
            signal,
            ledger,
            ...undoTimeoutOf(flags),
            ...(flags.name ? { name: flags.name } : {}),
          }),
        flags,
        (summary) =>
          `restored ${summary.target?.name ?? '?'} on ${destination.url} in ${formatDuration(summary.durationMs)}${downtimeOf(summary)}`,
      )
    } finally {
      await Promise.all([destination.close(), transport.close?.()])
    }
  })
}
