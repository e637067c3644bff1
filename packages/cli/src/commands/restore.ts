import type { GroupRestorePlan, OnConflict, OnMissingNetwork, RestorePlan } from '@transship/core'
import { Command, Option } from 'commander'
import { type EngineFlags, engineFlagOptions, engineOptionsOf } from '../engineOptions.js'
import { type KeyFlags, keyFileOption, secretOf } from '../keyFile.js'
import { loadCore } from '../loadCore.js'
import { downtimeOf, formatDuration, targetsOf } from '../render/format.js'
import { type OutputFlags, runPipeline } from '../runPipeline.js'
import {
  openTransport,
  splitBackupUrl,
  type TransportFlags,
  transportModuleOption,
} from '../transports.js'
import {
  destinationChoiceOptions,
  type HookFlags,
  hooksOf,
  postRestoreOptions,
  type StateFlags,
  stateDirOption,
  type TargetChangeFlags,
  targetChangesOf,
  undoTimeoutOf,
  undoTimeoutOption,
} from './options.js'

interface RestoreFlags
  extends EngineFlags,
    TransportFlags,
    OutputFlags,
    StateFlags,
    KeyFlags,
    TargetChangeFlags,
    HookFlags {
  readonly insecure?: boolean
  readonly allowHostAccess?: boolean
  readonly dryRun?: boolean
  readonly to?: string
  readonly onConflict: OnConflict
  readonly onMissingNetwork: OnMissingNetwork
  readonly name?: string
}

/**
 * `transship restore`: the restore half on its own, from a backup URL that `backup`
 * printed.
 *
 * @return the subcommand.
 */
export function restoreCommand(): Command {
  const command = new Command('restore')
    .description('Restore a backup at a destination engine and start the container there.')
    .argument('<backup-url>', 'the URL backup printed: <transport URL>/<backup id>')
    .option('--to <engine>', 'destination engine URL (default: DOCKER_HOST, else the local socket)')
    .option('--json', 'print events as JSON lines (with --dry-run: the plan as one JSON object)')
    .option(
      '--dry-run',
      'print what would be created at the destination and what host access granted, then exit: 0 when the restore would go ahead, 1 when it would be refused',
    )
    .option(
      '--allow-host-access',
      "grant the host access the backup's container asks for (privileged mode, host paths, devices, host namespaces, …): refused by default, since the staging could have been changed",
    )
  for (const option of [
    keyFileOption(),
    new Option(
      '--insecure',
      'restore a backup made with --no-encrypt: nothing proves who wrote it, so only if you trust everyone who can write to the staging',
    ),
    stateDirOption(),
    undoTimeoutOption(),
    ...destinationChoiceOptions(),
    ...postRestoreOptions(),
    ...engineFlagOptions(),
    transportModuleOption(),
  ])
    command.addOption(option)
  return command.action(async (backupUrl: string, flags: RestoreFlags) => {
    const { connectEngine, planRestore, restore } = await loadCore()
    const secret = await secretOf(flags)
    const changes = await targetChangesOf(flags)
    const { transportUrl, id } = await splitBackupUrl(backupUrl)
    const destination = await connectEngine(flags.to, engineOptionsOf(flags))
    const transport = await openTransport(transportUrl, flags)
    const trust = {
      ...(secret ? { secret } : {}),
      ...(flags.insecure ? { insecure: true } : {}),
      ...(flags.allowHostAccess ? { allowHostAccess: true } : {}),
    }
    try {
      if (flags.dryRun) {
        const plan = await planRestore({
          destination,
          transport,
          id,
          ...trust,
          onConflict: flags.onConflict,
          ...(flags.name ? { name: flags.name } : {}),
          ...changes,
        })
        const text =
          'members' in plan
            ? describeGroupPlan(plan, destination.url)
            : describePlan(plan, destination.url)
        console.log(flags.json ? JSON.stringify(plan) : text)
        if (plan.refused !== undefined) process.exitCode = 1
        return
      }
      await runPipeline(
        {
          ...(flags.stateDir ? { stateDir: flags.stateDir } : {}),
          command: `restore ${backupUrl}`,
        },
        (signal, ledger) =>
          restore({
            destination,
            transport,
            id,
            ...trust,
            onConflict: flags.onConflict,
            onMissingNetwork: flags.onMissingNetwork,
            signal,
            ledger,
            ...undoTimeoutOf(flags),
            ...(flags.name ? { name: flags.name } : {}),
            ...changes,
            ...hooksOf(flags),
          }),
        flags,
        (summary) =>
          `restored ${targetsOf(summary)} on ${destination.url} in ${formatDuration(summary.durationMs)}${downtimeOf(summary)}`,
      )
    } finally {
      await Promise.all([destination.close(), transport.close?.()])
    }
  })
}

/** `restore --dry-run`'s report on a group's backup: each member's plan, in start order. */
function describeGroupPlan(plan: GroupRestorePlan, engine: string): string {
  return [
    `restore ${plan.backup}, a group of ${plan.members.length} containers started in this order: ${plan.members.map((member) => member.container.name).join(', ')}`,
    ...plan.members.map((member) => describePlan(member, engine, true)),
    plan.refused === undefined
      ? 'the restore would go ahead'
      : `the restore would be REFUSED: ${plan.refused}`,
  ].join('\n')
}

/** `restore --dry-run`'s report: what would be created, what granted, whether refused. */
function describePlan(plan: RestorePlan, engine: string, member = false): string {
  const volume = (v: RestorePlan['volumes'][number]) => {
    const how = {
      create: 'created',
      rename: 'created under a new name',
      replace: 'replaces the existing one',
      reuse: 'the existing one is mounted',
      mount: `mounted, made and filled with ${v.copiedWith ?? '?'}`,
    }[v.action]
    return `  volume     ${v.name} at ${v.at}: ${how}${v.copied ? ', content from the backup' : ''}`
  }
  return [
    `restore ${plan.backup} on ${engine} (dry run: nothing is changed)`,
    `  container  ${plan.container.name} (backup of ${plan.container.source} taken ${plan.container.createdAt})`,
    `  image      ${plan.image.reference} (${plan.image.id}): ${plan.image.held ? 'held by the destination' : 'loaded from the backup'}`,
    ...plan.changes.map((change) => `  change     ${change}`),
    ...plan.volumes.map(volume),
    ...plan.networks.map(
      (n) => `  network    ${n.name}: ${n.created ? 'created' : 'exists at the destination'}`,
    ),
    plan.grants.length === 0
      ? '  host access: none'
      : ['  host access:', ...plan.grants.map((grant) => `    - ${grant}`)].join('\n'),
    // A member's verdict is the group's, given once.
    ...(member
      ? []
      : [
          plan.refused === undefined
            ? 'the restore would go ahead'
            : `the restore would be REFUSED: ${plan.refused}`,
        ]),
  ].join('\n')
}
