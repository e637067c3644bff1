import { loadGroupManifest } from '../backups/loadManifest.js'
import type { EngineClient } from '../engine/client.js'
import { findImage } from '../engine/images.js'
import { messageOf } from '../errors.js'
import { isGroupBackup } from '../group/groupManifest.js'
import { plainMessage } from '../pipeline/stage.js'
import { startMigration } from '../pipeline/startMigration.js'
import { stateAfter } from '../pipeline/stateAfter.js'
import { refusedForGroup } from '../pipelines/restore.js'
import type { SecretKey } from '../sealing/secretKey.js'
import {
  assertContainerNameFree,
  type OnConflict,
  planVolumes,
  type VolumePlan,
} from '../stages/destinationNames.js'
import { missingNetworks } from '../stages/destinationNetworks.js'
import { hostGrantsOf } from '../stages/hostGrants.js'
import { readManifest } from '../stages/readManifest.js'
import { requireSource } from '../stages/require.js'
import { previewChanges, type TargetChanges } from '../stages/targetChanges.js'
import type { Transport } from '../transport/contract.js'

/** Options of {@link planRestore}: those of `restore`, without running anything. */
export interface PlanRestoreOptions {
  readonly destination: EngineClient
  /** Where the backup is, as stored. */
  readonly transport: Transport
  readonly id: string
  readonly secret?: SecretKey
  readonly insecure?: boolean
  readonly allowHostAccess?: boolean
  readonly onConflict?: OnConflict
  readonly name?: string
  readonly changes?: TargetChanges
}

/** What a restore would create and grant at the destination. */
export interface RestorePlan {
  readonly backup: string
  /** The target's name, and the source's. */
  readonly container: { readonly name: string; readonly source: string; readonly createdAt: string }
  readonly image: {
    readonly reference: string
    readonly id: string
    /** Whether the destination holds it already (else it is loaded from the backup). */
    readonly held: boolean
  }
  readonly volumes: readonly {
    readonly name: string
    readonly at: string
    /** `mount`: in a group, another member's volume, made and filled with that member. */
    readonly action: VolumePlan['action'] | 'rename' | 'mount'
    readonly copied: boolean
    /** With `mount`: the member that copies it. */
    readonly copiedWith?: string
  }[]
  readonly networks: readonly { readonly name: string; readonly created: boolean }[]
  /** What the target changes from its source (`describeChanges`). */
  readonly changes: readonly string[]
  /** The host grants the target would receive (`hostGrantsOf`). */
  readonly grants: readonly string[]
  /** Why the restore would be refused, when it would. */
  readonly refused?: string
}

/**
 * What `restore` would do, without changing anything (`restore --dry-run`): reads and
 * authenticates the manifest as a restore does (its errors are thrown: a backup that
 * cannot be read has no plan), then plans the target, its image, volumes and networks at
 * the destination, and the host grants it would receive.
 *
 * @param options - as `restore`'s.
 * @return the plan; `refused` says why the restore would fail.
 */
export async function planRestore(
  options: PlanRestoreOptions,
): Promise<RestorePlan | GroupRestorePlan> {
  if (!(await isGroupBackup(options.transport, options.id))) return planOne(options, options.id)
  const { group } = await loadGroupManifest(options.transport, options.id, options)
  const members: RestorePlan[] = []
  for (const member of group.members) members.push(await planOne(options, member.id))
  const refused = refusedForGroup(options)
  const refusals = [
    ...(refused ? [plainMessage(refused)] : []),
    ...members.flatMap((plan) =>
      plan.refused === undefined ? [] : [`${plan.container.source}: ${plan.refused}`],
    ),
  ]
  return {
    backup: `${options.transport.url}/${options.id}`,
    members,
    ...(refusals.length > 0 ? { refused: refusals.join('; ') } : {}),
  }
}

/** What restoring a group's backup would do: each member's plan, dependencies first. */
export interface GroupRestorePlan {
  readonly backup: string
  readonly members: readonly RestorePlan[]
  /** Why the restore would be refused, when it would, each reason naming its container. */
  readonly refused?: string
}

async function planOne(options: PlanRestoreOptions, id: string): Promise<RestorePlan> {
  const { destination: engine } = options
  const state = await stateAfter(
    startMigration({ id }).pipe(
      readManifest({
        transport: options.transport,
        id,
        secret: options.secret,
        insecure: options.insecure,
      }),
    ),
  )
  const refusals: string[] = []
  const refuse = (error: unknown) => void refusals.push(messageOf(error))
  const original = requireSource(state, 'plan')
  const preview = previewChanges(original, state.volumes, options.changes)
  if (preview.problem) refusals.push(preview.problem)
  const source = preview.target
  const name = options.name ?? source.name
  await assertContainerNameFree(engine, name).catch(refuse)
  const plans = await planVolumes(
    engine,
    state.volumes,
    options.onConflict ?? 'fail',
    preview.volumeNames,
  ).catch((error: unknown) => {
    refuse(error)
    return [] as VolumePlan[]
  })
  const grants = hostGrantsOf({ ...state, source, plans })
  if (grants.length > 0 && !options.allowHostAccess) {
    refusals.push(
      'the target would receive host access: restore with --allow-host-access to grant it',
    )
  }
  const missing = new Set((await missingNetworks(engine, source.networks)).map((n) => n.name))
  return {
    backup: `${options.transport.url}/${id}`,
    container: { name, source: original.name, createdAt: state.manifest?.createdAt ?? '' },
    image: {
      reference: source.image,
      id: source.imageId,
      held: (await findImage(engine, source.imageId)) !== undefined,
    },
    volumes: [
      ...plans.map((plan) => ({
        name: plan.name ?? '(a fresh name)',
        at: plan.volume.destination,
        action:
          plan.action === 'create' && plan.name && plan.name !== plan.volume.name
            ? ('rename' as const)
            : plan.action,
        copied: plan.volume.artifact !== undefined,
      })),
      ...state.volumes.flatMap((volume) =>
        volume.copiedWith === undefined
          ? []
          : [
              {
                name: volume.name,
                at: volume.destination,
                action: 'mount' as const,
                copied: false,
                copiedWith: volume.copiedWith,
              },
            ],
      ),
    ],
    networks: source.networks
      .filter((network) => !network.builtin)
      .map((network) => ({ name: network.name, created: missing.has(network.name) })),
    changes: preview.lines,
    grants,
    ...(refusals.length > 0 ? { refused: refusals.join('; ') } : {}),
  }
}
