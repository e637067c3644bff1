import { createRequire } from 'node:module'
import { Command } from 'commander'
import { backupCommand } from './commands/backup.js'
import { doctorCommand } from './commands/doctor.js'
import { keyCommand } from './commands/key.js'
import { lsCommand } from './commands/ls.js'
import { migrateCommand } from './commands/migrate.js'
import { planCommand } from './commands/plan.js'
import { recoverCommand } from './commands/recover.js'
import { restoreCommand } from './commands/restore.js'
import { rmCommand } from './commands/rm.js'
import { verifyCommand } from './commands/verify.js'

const { version } = createRequire(import.meta.url)('../package.json') as { version: string }

/**
 * The `transship` command line: one subcommand per file in `commands/`.
 *
 * @return the program, ready to parse arguments.
 */
export function createProgram(): Command {
  return new Command('transship')
    .description('Move a running, stateful Docker container from one host to another.')
    .version(version)
    .showHelpAfterError()
    .addCommand(migrateCommand())
    .addCommand(planCommand())
    .addCommand(backupCommand())
    .addCommand(restoreCommand())
    .addCommand(lsCommand())
    .addCommand(rmCommand())
    .addCommand(verifyCommand())
    .addCommand(recoverCommand())
    .addCommand(keyCommand())
    .addCommand(doctorCommand())
}

/**
 * Runs the command line. A failure becomes one error line on stderr and exit code 1;
 * a command reports a negative result (a failed check) through `process.exitCode`.
 *
 * @param argv - `process.argv`.
 * @return the exit code.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  try {
    await createProgram().parseAsync(argv)
    return Number(process.exitCode ?? 0)
  } catch (error) {
    // One line, however many the message has (a schema error lists each field on its own).
    const message = (error instanceof Error ? error.message : String(error)).replace(
      /\s*\n\s*/g,
      ' ',
    )
    console.error(message.startsWith('[transship]') ? message : `[transship] ${message}`)
    return 1
  }
}
