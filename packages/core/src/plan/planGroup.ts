import { memberSubject } from '../group/eachMember.js'
import { findGroup, groupSelection } from '../group/findGroup.js'
import { startMigration } from '../pipeline/startMigration.js'
import { stateAfter } from '../pipeline/stateAfter.js'
import { volumesRefused } from '../pipelines/migrateGroup.js'
import { type MigrationPlan, type PlanOptions, planMigration } from './planMigration.js'

/** Options of {@link planGroup}: those of `planMigration`, for a group. */
export interface PlanGroupOptions extends Omit<PlanOptions, 'container' | 'name' | 'movingWith'> {
  /** The compose project (`com.docker.compose.project`) whose containers move together. */
  readonly project?: string
  /** Containers, by name or id, that move together. */
  readonly containers?: readonly string[]
}

/** What a group's migration would move, and what would stop it. */
export interface GroupPlan {
  readonly source: string
  readonly destination?: string
  /** Each member's plan, dependencies first: the order the targets start in (frozen in reverse). */
  readonly members: readonly MigrationPlan[]
  /** About the group as a whole: dependencies on containers outside it. */
  readonly warnings: readonly string[]
  /** What would stop the migration before it starts, each naming its container. */
  readonly problems: readonly string[]
}

/**
 * A dry run of `migrateGroup`: the group's members in the order they start, each one's
 * plan (a volume several mount shows which member copies it), and what would stop it.
 * Reads both engines; changes nothing.
 *
 * @param options - engines, the group, the user's choices.
 * @return the plan.
 * @throws TransshipError `INVALID_OPTION` for a volume selection; `findGroup`'s and
 *   `planMigration`'s errors.
 */
export async function planGroup(options: PlanGroupOptions): Promise<GroupPlan> {
  if (options.volumes) throw volumesRefused()
  const group = await stateAfter(
    startMigration().pipe(
      findGroup({
        engine: options.source,
        ...groupSelection(options),
      }),
    ),
  )
  const members = group.members ?? []
  const plans: MigrationPlan[] = []
  for (const member of members) {
    const plan = await planMigration({ ...options, ...memberSubject(member, group) })
    plans.push({
      ...plan,
      volumes: plan.volumes.map((volume) => {
        const copier = plans.find((earlier) => earlier.volumes.some((v) => v.name === volume.name))
        return copier ? { ...volume, copiedWith: copier.container.name } : volume
      }),
    })
  }
  return {
    source: options.source.url,
    ...(options.destination ? { destination: options.destination.url } : {}),
    members: plans,
    warnings: group.warnings.map((warning) => warning.message),
    problems: plans.flatMap((plan) =>
      plan.problems.map((problem) => `${plan.container.name}: ${problem}`),
    ),
  }
}
