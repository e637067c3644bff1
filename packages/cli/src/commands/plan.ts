import type { GroupPlan, MigrationPlan, OnConflict, OnMissingNetwork } from '@transship/core'
import { Command } from 'commander'
import { type EngineFlags, engineFlagOptions, engineOptionsOf } from '../engineOptions.js'
import { loadCore } from '../loadCore.js'
import { formatBytes } from '../render/format.js'
import { containersArgument, type GroupFlags, groupOf, projectOption } from './groupArguments.js'
import {
  destinationChoiceOptions,
  fromOption,
  type TargetChangeFlags,
  targetChangesOf,
  volumesOption,
} from './options.js'

interface PlanFlags extends EngineFlags, TargetChangeFlags, GroupFlags {
  readonly from?: string
  readonly to?: string
  readonly volumes?: string[]
  readonly onConflict: OnConflict
  readonly onMissingNetwork: OnMissingNetwork
  readonly image: boolean
  readonly json?: boolean
}

/**
 * `transship plan`: a dry run that prints what a migration would move, with sizes and
 * warnings, and what would stop it. Changes nothing. Exit code 1 when something would.
 *
 * @return the subcommand.
 */
export function planCommand(): Command {
  const command = new Command('plan')
    .description(
      'Dry run: print what a migration would move (volumes, layer, image) with sizes and ' +
        'warnings, and what would stop it; changes nothing. Exit code 1 when something would.',
    )
    .addArgument(containersArgument('move'))
    .addOption(projectOption('plan'))
    .addOption(fromOption())
    .option('--to <engine>', 'destination engine URL (without it: the plan of a split backup)')
    .addOption(volumesOption())
    .option('--no-image', 'the image never travels (a split backup)')
    .option('--json', 'print the plan as one JSON object')
  for (const option of [...destinationChoiceOptions(), ...engineFlagOptions()])
    command.addOption(option)
  return command.action(async (containers: string[], flags: PlanFlags) => {
    const core = await loadCore()
    const group = groupOf(containers, flags, core)
    const changes = await targetChangesOf(flags)
    const source = await core.connectEngine(flags.from, engineOptionsOf(flags))
    const destination = flags.to
      ? await core.connectEngine(flags.to, engineOptionsOf(flags))
      : undefined
    const choices = {
      source,
      onConflict: flags.onConflict,
      onMissingNetwork: flags.onMissingNetwork,
      includeImage: flags.image,
      ...(destination ? { destination } : {}),
      ...(flags.volumes ? { volumes: flags.volumes } : {}),
      ...changes,
    }
    try {
      const plan =
        group.container === undefined
          ? await core.planGroup({ ...choices, ...group.members })
          : await core.planMigration({
              ...choices,
              container: group.container,
              ...(flags.name ? { name: flags.name } : {}),
            })
      const text = 'members' in plan ? describeGroupPlan(plan, group.label) : describePlan(plan)
      console.log(flags.json ? JSON.stringify(plan) : text)
      if (plan.problems.length > 0) process.exitCode = 1
    } finally {
      await Promise.all([source.close(), destination?.close()])
    }
  })
}

/** A group's plan as people read it: the order, then each member's plan. */
export function describeGroupPlan(plan: GroupPlan, label: string): string {
  const names = plan.members.map((member) => member.container.name)
  const lines = [
    `plan: ${label}, ${names.length} containers, from ${plan.source}${plan.destination ? ` to ${plan.destination}` : ''}`,
    `  frozen in this order: ${[...names].reverse().join(', ')}; then started: ${names.join(', ')}`,
  ]
  lines.push(...verdictLines(plan))
  for (const member of plan.members) lines.push('', describePlan({ ...member, problems: [] }))
  return lines.join('\n')
}

/** The plan as people read it. */
export function describePlan(plan: MigrationPlan): string {
  const { container, layer, image } = plan
  const lines = [
    `plan: ${container.name} (${container.id.slice(0, 12)}, ${container.running ? 'running' : 'stopped'}) from ${plan.source}${plan.destination ? ` to ${plan.destination}` : ''}`,
    '  volumes',
  ]
  for (const volume of plan.volumes) {
    const name = volume.anonymous ? '(anonymous)' : volume.name
    const size = volume.size === undefined ? '?' : formatBytes(volume.size)
    lines.push(
      `    ${name.padEnd(24)} ${volume.destination.padEnd(20)} ${volume.readOnly ? 'ro' : 'rw'}  ${volume.driver.padEnd(8)} ${size.padStart(10)}  ${copiedHow(volume)}`,
    )
  }
  if (plan.volumes.length === 0) lines.push('    none')
  lines.push(
    `  layer    ${layer.method}: ${layer.changes.added} added, ${layer.changes.changed} changed, ${layer.changes.deleted} deleted${layer.size === undefined ? '' : `, ${formatBytes(layer.size)}`}`,
  )
  const held =
    image.layersAtDestination === undefined
      ? ''
      : ` (${image.layersAtDestination} of ${image.layers} layers already at the destination)`
  lines.push(
    `  image    ${image.reference} (${image.id.slice(7, 19)}), ${formatBytes(image.size)}: ${image.travels ? `travels${held}` : 'does not travel'}`,
  )
  if (plan.changes.length > 0) {
    lines.push('  target changes')
    for (const change of plan.changes) lines.push(`    - ${change}`)
  }
  if (plan.networksToCreate.length > 0)
    lines.push(`  networks to create: ${plan.networksToCreate.join(', ')}`)
  lines.push(...verdictLines(plan))
  return lines.join('\n')
}

function copiedHow(volume: MigrationPlan['volumes'][number]): string {
  if (volume.copiedWith !== undefined) return `copied with ${volume.copiedWith}, mounted`
  return volume.copied ? 'copied' : 're-created empty'
}

/** A plan's warnings and problems, each under its title, when there are any. */
function verdictLines(plan: {
  readonly warnings: readonly string[]
  readonly problems: readonly string[]
}): string[] {
  return (
    [
      ['warnings', plan.warnings],
      ['problems (the migration would stop before touching anything)', plan.problems],
    ] as const
  ).flatMap(([title, items]) =>
    items.length === 0 ? [] : [`  ${title}`, ...items.map((item) => `    - ${item}`)],
  )
}
