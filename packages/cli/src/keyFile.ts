import type { SealingOptions, SecretKey } from '@transship/core'
import { Option } from 'commander'
import { loadCore } from './loadCore.js'

/** What the key options give a command. */
export interface KeyFlags {
  /** `--key-file FILE`, or `TRANSSHIP_KEY_FILE`. */
  readonly keyFile?: string
  /** `false` with `--no-encrypt`. */
  readonly encrypt?: boolean
}

/** `--key-file <file>` (or `TRANSSHIP_KEY_FILE`): the secret key that seals backups. */
export function keyFileOption(): Option {
  return new Option(
    '--key-file <file>',
    'the secret key that encrypts and authenticates the backup (make one with `transship key generate FILE`)',
  ).env('TRANSSHIP_KEY_FILE')
}

/** `--no-encrypt`: stage in plaintext. */
export function noEncryptOption(): Option {
  return new Option(
    '--no-encrypt',
    'store the backup in plaintext: nothing authenticates it, and `restore` then needs --insecure',
  )
}

/**
 * How a command that stages seals: `--no-encrypt` wins over a key (also one from
 * `TRANSSHIP_KEY_FILE`); else the key of `--key-file`, if given.
 *
 * @param flags - the command's flags.
 * @return the pipeline's sealing options.
 */
export async function sealingOf(flags: KeyFlags): Promise<SealingOptions> {
  if (flags.encrypt === false) return { encrypt: false }
  const secret = await secretOf(flags)
  return secret ? { secret } : {}
}

/**
 * The secret key of `--key-file`, if given; warns on stderr when the file is readable by
 * others (whoever reads it can open and forge the backups).
 *
 * @param flags - the command's flags.
 * @return the key, or `undefined` without `--key-file`.
 */
export async function secretOf(flags: KeyFlags): Promise<SecretKey | undefined> {
  if (!flags.keyFile) return undefined
  const { readKeyFile } = await loadCore()
  const file = await readKeyFile(flags.keyFile)
  if (file.readableByOthers) {
    process.stderr.write(
      `warning: the key file ${file.path} can be read by others (mode ${file.mode.toString(8).padStart(4, '0')}): whoever reads it can open and forge your backups; chmod 600 it\n`,
    )
  }
  return file.secret
}
