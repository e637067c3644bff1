import { Command } from 'commander'
import { type EngineFlags, engineFlagOptions } from '../engineOptions.js'
import { type KeyFlags, keyFileOption, secretOf } from '../keyFile.js'
import { loadCore } from '../loadCore.js'
import { formatBytes } from '../render/format.js'
import { openTransport, type TransportFlags, transportModuleOption } from '../transports.js'

/**
 * `transship ls`: the backups stored at a transport URL, with container, size and date.
 *
 * @return the subcommand.
 */
export function lsCommand(): Command {
  const command = new Command('ls')
    .description('List the backups stored at a transport URL, with container, size and date.')
    .argument(
      '<url>',
      'transport URL: file:///dir, scp://[user@]host[:port]/path or s3://bucket/prefix',
    )
    .option('--json', 'print the list as one JSON array')
  for (const option of [keyFileOption(), ...engineFlagOptions(), transportModuleOption()])
    command.addOption(option)
  return command.action(
    async (url: string, flags: EngineFlags & TransportFlags & KeyFlags & { json?: boolean }) => {
      const { listBackups } = await loadCore()
      const secret = await secretOf(flags)
      const transport = await openTransport(url, flags)
      try {
        const backups = await listBackups(transport, { secret })
        if (flags.json) {
          console.log(JSON.stringify(backups))
          return
        }
        for (const backup of backups) {
          const state = backup.complete
            ? `${backup.container ?? '?'}${backup.encrypted ? ' (encrypted)' : ''}`
            : `INCOMPLETE${backup.problem ? ` (${backup.problem})` : ''}`
          console.log(
            [
              backup.createdAt ?? '-'.padEnd(24),
              formatBytes(backup.bytes).padStart(10),
              state.padEnd(32),
              backup.url,
            ].join('  '),
          )
        }
      } finally {
        await transport.close?.()
      }
    },
  )
}
