import { deleteBackup } from '@transship/core'
import { Command } from 'commander'
import { openTransport, splitBackupUrl } from '../transports.js'

/**
 * `transship rm`: deletes one backup, manifest first.
 *
 * @return the subcommand.
 */
export function rmCommand(): Command {
  return new Command('rm')
    .description(
      'Delete one backup (its manifest first, so a half-deleted backup never looks whole).',
    )
    .argument('<backup-url>', 'the URL backup printed: <transport URL>/<backup id>')
    .action(async (backupUrl: string) => {
      const { transportUrl, id } = splitBackupUrl(backupUrl)
      const transport = await openTransport(transportUrl)
      try {
        await deleteBackup(transport, id)
        console.log(`removed ${backupUrl}`)
      } finally {
        await transport.close?.()
      }
    })
}
