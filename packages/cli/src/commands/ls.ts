import { listBackups } from '@transship/core'
import { Command } from 'commander'
import { formatBytes } from '../render/format.js'
import { openTransport } from '../transports.js'

/**
 * `transship ls`: the backups stored at a transport URL, with container, size and date.
 *
 * @return the subcommand.
 */
export function lsCommand(): Command {
  return new Command('ls')
    .description('List the backups stored at a transport URL, with container, size and date.')
    .argument('<url>', 'transport URL: file:///dir')
    .option('--json', 'print the list as one JSON array')
    .action(async (url: string, flags: { json?: boolean }) => {
      const transport = await openTransport(url)
      try {
        const backups = await listBackups(transport)
        if (flags.json) {
          console.log(JSON.stringify(backups))
          return
        }
        for (const backup of backups) {
          const state = backup.complete
            ? (backup.container ?? '?')
            : `INCOMPLETE${backup.problem ? ` (${backup.problem})` : ''}`
          console.log(
            [
              backup.createdAt ?? '-'.padEnd(24),
              formatBytes(backup.bytes).padStart(10),
              state.padEnd(20),
              backup.url,
            ].join('  '),
          )
        }
      } finally {
        await transport.close?.()
      }
    })
}
