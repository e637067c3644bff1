import type { EngineOptions } from '@transship/core'
import { Option } from 'commander'

/** The command-line options that say how to reach engines, beyond their URLs. */
export interface EngineFlags {
  readonly sshConfig?: string
}

/**
 * The options every command that talks to engines accepts.
 *
 * @return commander options, to add with `addOption`.
 */
export function engineFlagOptions(): Option[] {
  return [
    new Option(
      '--ssh-config <file>',
      'OpenSSH client config for ssh:// engines and scp:// transports: host aliases, users, ports, keys, known_hosts (default: ~/.ssh/config)',
    ),
  ]
}

/**
 * @param flags - the parsed command-line options.
 * @return the engine options they ask for.
 */
export function engineOptionsOf(flags: EngineFlags): EngineOptions {
  return flags.sshConfig ? { ssh: { configPath: flags.sshConfig } } : {}
}
