import type { EngineCheck } from '@transship/core'
import { Command } from 'commander'
import { type EngineFlags, engineFlagOptions, engineOptionsOf } from '../engineOptions.js'
import { loadCore } from '../loadCore.js'

interface DoctorFlags extends EngineFlags {
  readonly host?: string
  readonly image?: string
  readonly json?: boolean
}

/**
 * `transship doctor`: checks one engine and prints each item as pass/fail with a hint.
 * Exit code 1 when a required check fails.
 *
 * @return the subcommand.
 */
export function doctorCommand(): Command {
  const command = new Command('doctor')
    .description(
      'Check whether a Docker engine can take part in a migration: reachable, API version, ' +
        'experimental mode, storage driver, root directory, and a real checkpoint and restore ' +
        'of a throwaway container.',
    )
    .option(
      '--host <url>',
      'engine URL: unix:///path, tcp://host:port or ssh://[user@]host[:port][/socket/path] (default: DOCKER_HOST, else unix:///var/run/docker.sock)',
    )
    .option(
      '--image <image>',
      'local image for the throwaway container (default: the first local image that runs `sleep`)',
    )
    .option('--json', 'print the result as one JSON object')
  for (const option of engineFlagOptions()) command.addOption(option)
  return command.action(async (flags: DoctorFlags) => {
    const { defaultEngineUrl, diagnoseEngine } = await loadCore()
    const checks = await diagnoseEngine(flags.host, {
      ...engineOptionsOf(flags),
      ...(flags.image ? { image: flags.image } : {}),
    })
    const engine = flags.host ?? defaultEngineUrl()
    const ready = checks.every((check) => check.ok || !check.required)
    console.log(
      flags.json ? JSON.stringify({ engine, ready, checks }) : report(engine, checks, ready),
    )
    if (!ready) process.exitCode = 1
  })
}

function report(engine: string, checks: readonly EngineCheck[], ready: boolean): string {
  const width = Math.max(...checks.map((check) => check.name.length))
  const lines = [`engine ${engine}`]
  for (const check of checks) {
    const status = check.ok ? 'pass' : check.required ? 'FAIL' : 'warn'
    lines.push(`  ${status}  ${check.name.padEnd(width)}  ${check.detail}`)
    if (!check.ok && check.hint) lines.push(`        ${' '.repeat(width)}  hint: ${check.hint}`)
  }
  const failed = checks.filter((check) => !check.ok && check.required).length
  const warnings = checks.filter((check) => !check.ok && !check.required).length
  const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`
  lines.push(
    ready
      ? `ready: every required check passes${warnings > 0 ? ` (${plural(warnings, 'warning')} above)` : ''}`
      : `not ready: ${plural(failed, 'required check')} failed`,
  )
  return lines.join('\n')
}
