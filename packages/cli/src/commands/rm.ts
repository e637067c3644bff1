import { Command } from 'commander'
import { type EngineFlags, engineFlagOptions } from '../engineOptions.js'
import { loadCore } from '../loadCore.js'
import {
  openTransport,
  splitBackupUrl,
  type TransportFlags,
  transportModuleOption,
} from '../transports.js'

/**
 * `transship rm`: deletes one backup, manifest first.
 *
 * @return the subcommand.
 */
export function rmCommand(): Command {
  const command = new Command('rm')
    .description(
      'Delete one backup (its manifest first, so a half-deleted backup never looks whole).',
    )
    .argument('<backup-url>', 'the URL backup printed: <transport URL>/<backup id>')
  for (const option of [...engineFlagOptions(), transportModuleOption()]) command.addOption(option)
  return command.action(async (backupUrl: string, flags: EngineFlags & TransportFlags) => {
    const { deleteBackup } = await loadCore()
    const { transportUrl, id } = await splitBackupUrl(backupUrl)
    const transport = await openTransport(transportUrl, flags)
    try {
      await deleteBackup(transport, id)
      console.log(`removed ${backupUrl}`)
    } finally {
      await transport.close?.()
    }
  })
}
