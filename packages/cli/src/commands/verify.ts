import type { Verification, VerifiedTree } from '@transship/core'
import { Command } from 'commander'
import { type EngineFlags, engineFlagOptions, engineOptionsOf } from '../engineOptions.js'
import { loadCore } from '../loadCore.js'
import { fromOption } from './options.js'

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

interface VerifyFlags extends EngineFlags {
  readonly from?: string
  readonly to: string
  readonly name?: string
  readonly json?: boolean
}

/**
 * `transship verify`: compares the stopped source container with its target, every volume
 * (by mount point) and the container layer, path by path, and prints what differs; what
 * the running target changed since it started is listed apart. Exit code 1 when anything
 * else differs.
 *
 * @return the subcommand.
 */
export function verifyCommand(): Command {
  const command = new Command('verify')
    .description(
      "Compare the stopped source container's volumes and layer with the target's, path by path " +
        '(content hash, type, mode, owner, mtime, symlink targets, hard links), and print what differs; ' +
        'what the target changed since it started is listed apart. Exit code 1 when anything else differs.',
    )
    .argument('<container>', 'the source container: name or id')
    .addOption(fromOption())
    .requiredOption('--to <engine>', 'the engine the target is on')
    .option('--name <target>', "the target container's name or id (default: the source's name)")
    .option('--json', 'print the comparison as one JSON object')
  for (const option of engineFlagOptions()) command.addOption(option)
  return command.action(async (container: string, flags: VerifyFlags) => {
    const { connectEngine, verifyContainers, describeDifference } = await loadCore()
    // An interrupt aborts the helpers, so that their containers are removed before exit.
    const interrupt = new AbortController()
    const abort = () => interrupt.abort()
    for (const signal of SIGNALS) process.once(signal, abort)
    const source = await connectEngine(flags.from, engineOptionsOf(flags))
    try {
      const destination = await connectEngine(flags.to, engineOptionsOf(flags))
      try {
        const found = await verifyContainers({
          source,
          destination,
          container,
          signal: interrupt.signal,
          ...(flags.name ? { target: flags.name } : {}),
        })
        console.log(
          flags.json ? JSON.stringify(found) : describeVerification(found, describeDifference),
        )
        if (found.differences.length > 0) process.exitCode = 1
      } finally {
        await destination.close()
      }
    } finally {
      await source.close()
      for (const signal of SIGNALS) process.off(signal, abort)
    }
  })
}

/** The comparison as people read it. */
function describeVerification(
  found: Verification,
  describe: (difference: Verification['differences'][number]) => string,
): string {
  const { source, target } = found
  const lines = [
    `verify: ${source.name} on ${source.engine} against ${target.name} on ${target.engine}`,
    ...found.trees.map((tree) => `  ${treeLine(tree)}`),
  ]
  const list = (title: string, items: Verification['differences']) => {
    if (items.length === 0) return
    lines.push(`${title} (${items.length})`, ...items.map((item) => `  ${describe(item)}`))
  }
  list('differences', found.differences)
  const since = target.changedAfter
  list(
    `changed by the target since its start began at ${since?.time} (${since?.from === 'hostname' ? 'its /etc/hostname' : 'State.StartedAt'}; not counted)`,
    found.changedByTarget,
  )
  lines.push(
    found.differences.length === 0
      ? 'result: the target holds what the source held'
      : `result: ${found.differences.length} path(s) differ`,
  )
  return lines.join('\n')
}

function treeLine(tree: VerifiedTree): string {
  const what =
    tree.kind === 'layer'
      ? 'layer'
      : `volume ${tree.mountPoint} (${tree.sourceVolume ?? 'none'} → ${tree.targetVolume ?? 'none'})`
  if (tree.unverifiable) return `${what}: not compared: ${tree.unverifiable}`
  return `${what}: ${tree.entries?.source ?? 0} entries at the source, ${tree.entries?.target ?? 0} at the target`
}
