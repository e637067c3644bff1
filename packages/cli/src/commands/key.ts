import { Command } from 'commander'
import { loadCore } from '../loadCore.js'

/**
 * `transship key generate FILE`: a new secret key for `backup` and `restore`.
 *
 * @return the subcommand.
 */
export function keyCommand(): Command {
  const command = new Command('key').description(
    'Manage the secret keys that encrypt and authenticate backups.',
  )
  command
    .command('generate')
    .description(
      'Write a new secret key to FILE (mode 0600; an existing file is never overwritten). ' +
        'Give it to backup and restore with --key-file FILE or TRANSSHIP_KEY_FILE=FILE.',
    )
    .argument('<file>', 'where to write the key')
    .action(async (file: string) => {
      const { generateKeyFile, keyId } = await loadCore()
      const secret = await generateKeyFile(file)
      console.log(
        `wrote a new key to ${file} (key id ${keyId(secret)}): keep it secret and keep a copy. ` +
          'Whoever holds it can read and forge the backups made with it; without it, they cannot be restored.',
      )
    })
  return command
}
